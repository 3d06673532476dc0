"""bnlint.check, bnlint.testing.assert_clean and the pytest plugin, as a
user's own test suite uses them."""

import subprocess
import sys
import textwrap

import pytest

import bnlint
from bnlint.testing import assert_clean

from helpers import ROOT

DATA = ROOT / "tests" / "data"


@pytest.fixture
def models():
    sys.path.insert(0, str(DATA))
    try:
        import pytest_project_models as m

        yield m
    finally:
        sys.path.remove(str(DATA))


def _line(needle):
    text = (DATA / "pytest_project_models.py").read_text().splitlines()
    return next(i for i, l in enumerate(text, 1) if needle in l)


def test_check_reports_the_construction_lines_of_a_model_built_outside_bnlint(models):
    found = bnlint.check(models.Net(), select="BN101")
    where = {f.module: (f.path.rsplit("/", 1)[-1], f.line) for f in found}
    assert where == {
        "head.0": ("pytest_project_models.py", _line("nn.Linear(8, 4)")),  # an argument of an inline Sequential
        # built in a helper: the best a class's source can say is the container's line
        "features.0": ("pytest_project_models.py", _line("self.features = make_layers")),
    }


def test_check_filters_by_fail_on(models):
    net = models.Net()
    assert {f.severity.value for f in bnlint.check(net, fail_on="warning")} == {"warning"}
    assert bnlint.check(net, fail_on="error") == []


def test_assert_clean_fails_with_a_table(models):
    assert_clean(models.Clean())
    with pytest.raises(AssertionError) as info:
        assert_clean(models.Net(), select="BN101")
    text = str(info.value)
    assert text.startswith("bnlint found 2 problems in Net:\n")
    assert "where" in text and "BN101" in text and "head.0" in text and "features.0" in text


def _pytest(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )


def test_plugin_fixture_and_marker_gate_a_users_models(tmp_path):
    (tmp_path / "models.py").write_text((DATA / "pytest_project_models.py").read_text())
    (tmp_path / "test_models.py").write_text(textwrap.dedent(
        """
        import pytest
        from models import Clean, Net

        def test_clean(bnlint_check):
            bnlint_check(Clean())

        def test_net(bnlint_check):
            bnlint_check(Net())

        @pytest.mark.bnlint(ignore=["BN101"])
        def test_net_ignoring_bias(bnlint_check):
            bnlint_check(Net())
        """
    ))
    proc = _pytest(tmp_path)
    assert "1 failed, 2 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "test_net " in proc.stdout or "test_models.py::test_net" in proc.stdout
    assert "bnlint found 2 problems in Net" in proc.stdout


def test_pytest_bnlint_option_checks_collected_files(tmp_path):
    (tmp_path / "models.py").write_text((DATA / "pytest_project_models.py").read_text())
    (tmp_path / "test_nothing.py").write_text("def test_ok():\n    pass\n")
    proc = _pytest(tmp_path, "--bnlint", "-rf")
    assert "1 failed" in proc.stdout and "models.py" in proc.stdout, proc.stdout + proc.stderr
    assert "BN101" in proc.stdout
    proc = _pytest(tmp_path)
    assert "1 passed" in proc.stdout, "without --bnlint nothing extra is collected"


def test_plugin_load_imports_no_torch(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import sys\n\ndef pytest_sessionfinish(session):\n"
        "    assert 'torch' not in sys.modules, 'the plugin imported torch'\n"
        "    print('TORCH-FREE')\n"
    )
    (tmp_path / "test_x.py").write_text("def test_ok():\n    pass\n")
    proc = _pytest(tmp_path, "-s")
    assert proc.returncode == 0 and "TORCH-FREE" in proc.stdout, proc.stdout + proc.stderr
    assert "bnlint" in _pytest(tmp_path, "--help").stdout

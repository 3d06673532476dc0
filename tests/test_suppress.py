"""Suppression as linters do it: `# bnlint: ignore[...]` and `# noqa: ...` on
any line of the reported statement, file-level ignores, unknown codes, unused
suppressions, and the count in the summary."""

import json
import textwrap

from bnlint import api
from bnlint.config import Config

from helpers import run_cli

MULTILINE = textwrap.dedent(
    """
    import torch.nn as nn

    model = nn.Sequential(
        nn.Conv2d(
            3, 8, 3,
        ),{first}
        nn.BatchNorm2d(8),
        nn.Conv2d(8, 8, 3),
        nn.BatchNorm2d(8),
    )
    """
)


def bn101_lines(tmp_path, text):
    f = tmp_path / "net.py"
    f.write_text(text)
    run = api.check_paths([str(f)], Config(select=("BN101",)))
    return sorted(x.line for x in run.findings), run


def test_comment_on_the_closing_line_of_a_multiline_call(tmp_path):
    lines, _ = bn101_lines(tmp_path, MULTILINE.format(first=""))
    assert lines == [5, 9]
    for comment in ("  # bnlint: ignore[BN101]", "  # noqa: BN101", "  # noqa:BN1,E501"):
        lines, run = bn101_lines(tmp_path, MULTILINE.format(first=comment))
        assert lines == [9], comment  # exactly that finding: the other conv stays
        assert run.suppressed == 1


def test_bare_noqa_and_other_codes_are_flake8s(tmp_path):
    for comment in ("  # noqa", "  # noqa: E501"):
        lines, _ = bn101_lines(tmp_path, MULTILINE.format(first=comment))
        assert lines == [5, 9], comment


def test_ignore_file_for_a_family(tmp_path):
    lines, _ = bn101_lines(tmp_path, "# bnlint: ignore-file[BN1]\n" + MULTILINE.format(first=""))
    assert lines == []


def test_a_comment_inside_a_string_is_not_a_suppression(tmp_path):
    text = MULTILINE.format(first="") + 'doc = "# bnlint: ignore-file"\n'
    lines, _ = bn101_lines(tmp_path, text)
    assert lines == [5, 9]


def test_unknown_code_is_a_warning_and_unused_ones_fail_when_asked(tmp_path):
    f = tmp_path / "net.py"
    f.write_text(MULTILINE.format(first="  # bnlint: ignore[BN101]") + "x = 1  # bnlint: ignore[BN999]\ny = 2  # noqa: BN203\n")
    proc = run_cli("check", str(f), "--select", "BN101,BN203")
    assert proc.returncode == 1
    assert "unknown rule code BN999" in proc.stderr
    assert "unused suppression" not in proc.stderr
    assert "1 suppressed" in proc.stdout
    proc = run_cli("check", str(f), "--select", "BN101,BN203", "--warn-unused-ignores", "--format", "json")
    assert [x["line"] for x in json.loads(proc.stdout)["findings"]] == [9]
    assert "net.py:13: unused suppression `# noqa: BN203`" in proc.stderr
    assert "ignore[BN101]" not in proc.stderr.split("unused")[-1]


def test_source_findings_honour_noqa_on_the_call(tmp_path):
    f = tmp_path / "predict.py"
    f.write_text(textwrap.dedent(
        """
        import torch

        def predict(model, x):
            with torch.no_grad():
                return model(
                    x,
                )  # noqa: BN402
        """
    ))
    assert [x.code for x in api.check_source(f)] == []

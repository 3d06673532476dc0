"""The wheel ships every subpackage (an editable install would hide a
missing one) and rules/ as bnlint.rules."""

import subprocess
import sys
import zipfile

import pytest

from helpers import ROOT


@pytest.mark.slow
def test_wheel_ships_every_package(tmp_path):
    pytest.importorskip("setuptools")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    [wheel] = tmp_path.glob("bnlint-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        str(p.relative_to(ROOT)) for p in (ROOT / "bnlint").rglob("*.py") if "__pycache__" not in p.parts
    } | {f"bnlint/rules/{p.name}" for p in (ROOT / "rules").glob("*.py")}
    assert expected - shipped == set()

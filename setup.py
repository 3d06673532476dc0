"""Package discovery, so a wheel ships every subpackage (an editable install
would hide a missing one). ``rules/`` is shipped as ``bnlint.rules``; all
other metadata is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["bnlint", "bnlint.*"]) + ["bnlint.rules"],
    package_dir={"bnlint.rules": "rules"},
)

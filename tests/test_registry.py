"""Rule discovery, selection, and the torch-free paths."""

import subprocess
import sys
import types

import pytest

from bnlint.engine import registry
from bnlint.findings import Severity
from bnlint.engine.rule import CODE_RE, NAME_RE, Rule

from helpers import ROOT


def test_codes_and_names_are_unique_and_well_formed():
    rules = registry.all_rules()
    codes = [r.code for r in rules]
    assert len(codes) == len(set(codes)) and codes == sorted(codes)
    assert len({r.name for r in rules}) == len(rules)
    for r in rules:
        assert CODE_RE.match(r.code) and NAME_RE.match(r.name)
        assert r.__module__.startswith("bnlint.rules.bn" + r.code[2:])


def test_one_file_per_rule_named_after_its_code():
    files = sorted(p.stem for p in (ROOT / "rules").glob("bn*.py"))
    assert [f[:5].upper() for f in files] == [r.code for r in registry.all_rules()]


def test_select_and_ignore_by_prefix_and_name():
    sel = registry.select_rules(["BN1"], ["BN104"])
    assert [r.code for r in sel] == ["BN101", "BN102", "BN103", "BN106"]
    assert [r.code for r in registry.select_rules(["shared-batchnorm"])] == ["BN102"]
    with pytest.raises(ValueError, match="unknown rule selector 'BN9'"):
        registry.select_rules(["BN9"])


def _fake_rule_module(code="BN901", name="my-plugin-rule"):
    mod = types.ModuleType("bnlint_plugin_rules")

    class PluginRule(Rule):
        """What it does ..."""

    PluginRule.code, PluginRule.name = code, name
    PluginRule.severity, PluginRule.needs, PluginRule.summary = Severity.INFO, ("graph",), "plugin"
    PluginRule.__module__ = mod.__name__
    mod.PluginRule = PluginRule
    return mod


class _EP:
    def __init__(self, obj):
        self.obj, self.name = obj, "plugin"

    def load(self):
        return self.obj


def test_third_party_rules_come_from_the_entry_point_group(monkeypatch):
    mod = _fake_rule_module()
    monkeypatch.setattr(registry, "entry_points", lambda group: [_EP(mod)] if group == "bnlint.rules" else [])
    registry.all_rules.cache_clear()
    try:
        assert "BN901" in [r.code for r in registry.all_rules()]
        monkeypatch.setattr(registry, "entry_points", lambda group: [_EP(_fake_rule_module("BN101", "dup"))])
        registry.all_rules.cache_clear()
        with pytest.raises(registry.RegistryError, match="BN101 is defined twice"):
            registry.all_rules()
        monkeypatch.setattr(registry, "entry_points", lambda group: [_EP(_fake_rule_module("X1", "bad"))])
        registry.all_rules.cache_clear()
        with pytest.raises(registry.RegistryError, match="malformed rule code"):
            registry.all_rules()
    finally:
        registry.all_rules.cache_clear()


def test_listing_and_documenting_rules_never_imports_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from bnlint.cli import app\n"
        "r = CliRunner()\n"
        "for args in (['--help'], ['rules'], ['rule', 'BN101'], ['check', '--help']):\n"
        "    assert r.invoke(app, args).exit_code == 0, args\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_python_api_on_a_live_model():
    import torch.nn as nn

    from bnlint.api import check_model

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8, momentum=0.99), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4, bias=False), nn.BatchNorm1d(4),
    )
    model.train()
    found = check_model(model, (1, 3, 16, 16))
    assert sorted((f.code, f.module) for f in found) == [
        ("BN101", "0"), ("BN103", "1"), ("BN301", "6"), ("BN302", "1"),
    ]
    assert model.training and all(m.training for m in model.modules()), "the model's mode is restored"
    assert [f.code for f in check_model(model, select=["BN103"])] == ["BN103"]

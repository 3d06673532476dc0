"""Every rule's VALID and INVALID examples, collected automatically: adding a
rule with examples adds its tests. Model examples go through the real loader
(import, build on meta, trace, rules) in-process."""

import pytest

from bnlint.engine.registry import all_rules

from helpers import model_findings


def _params():
    for rule in all_rules():
        for kind, examples in (("invalid", rule.invalid), ("valid", rule.valid)):
            for i, ex in enumerate(examples):
                yield pytest.param(rule, kind, ex, id=f"{rule.code}-{kind}-{i}")


def _findings(rule, example, tmp_path):
    path = tmp_path / f"example_{rule.code.lower()}.py"
    path.write_text(example.text)
    if example.kind == "model":
        from bnlint.engine.suppress import finalize

        result = model_findings(path, rules=[rule])
        assert not result.internal_errors, result.internal_errors
        return finalize(result.findings)  # de-duplicated, as a run reports them
    from bnlint.api import check_source  # the source analysis (scripts)

    return check_source(path, select=[rule.code])


@pytest.mark.parametrize("rule,kind,example", list(_params()))
def test_example(rule, kind, example, tmp_path):
    findings = _findings(rule, example, tmp_path)
    own = [f for f in findings if f.code == rule.code]
    if rule.code != "BN001":
        stray = [f for f in findings if f.code == "BN001"]
        assert not stray, f"example does not load: {stray[0].message}"
    if kind == "valid":
        assert not own, [f.message for f in own]
        return
    assert own, f"{rule.code} not reported on its invalid example"
    if example.expect is not None:
        assert len(own) == example.expect
    for f in own:
        assert f.path and f.line, f"{rule.code} finding without a location: {f}"
        assert f.severity == rule.severity
        assert example.message in f.message, f"{example.message!r} not in {f.message!r}"
    # Each finding is where the example says, and each place has its finding.
    places = example.places
    assert len(places) == len(own), f"{len(own)} findings, {len(places)} places: {[_where(f) for f in own]}"
    remaining = list(own)
    for place in places:
        hit = next((f for f in remaining if _matches(f, place, example)), None)
        assert hit is not None, f"no finding at {place!r}; found {[_where(f) for f in remaining]}"
        remaining.remove(hit)


def _matches(finding, place, example) -> bool:
    if place.startswith("@"):
        return finding.module == place[1:]
    return finding.line == example.line_of(place) and finding.path.endswith(f"example_{finding.code.lower()}.py")


def _where(f) -> str:
    return f"{f.module and '@' + f.module} line {f.line}"


def test_invalid_examples_pin_their_findings():
    """Every INVALID example says where its findings are and what they say."""
    unpinned = [
        f"{rule.code}-invalid-{i}"
        for rule in all_rules()
        for i, ex in enumerate(rule.invalid)
        if not ex.places or not ex.message
    ]
    assert not unpinned, f"INVALID examples without at= and message=: {unpinned}"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_is_documented(rule):
    assert not rule.missing_doc_sections(), f"{rule.code} docs lack {rule.missing_doc_sections()}"
    assert rule.summary.strip()
    assert rule.invalid and rule.valid, f"{rule.code} needs both VALID and INVALID examples"
    assert (rule.fix is None) == (rule.fix_safety is None)

"""``--format junit``: JUnit XML, the test report GitLab (``artifacts:
reports: junit``) and Jenkins show::

    <testsuite name="bnlint" tests="1" failures="1" errors="0">
      <testcase classname="models/net.py" name="models/net.py" file="models/net.py">
        <failure type="BN101" message="Linear 'fc1' has a bias ...">models/net.py:11:20: BN101 [warning] ...</failure>
      </testcase>
    </testsuite>

One testcase per file with findings, one ``<failure>`` per finding (its type
the rule code). Paths are relative to the working directory, which GitLab
resolves against the repo. With no findings a passing testcase ``bnlint``
stands in, so the report never reads "0 tests"; internal errors (as
``<error>``) and findings without a file belong to that testcase.
``tests``, ``failures`` and ``errors`` count testcases, as JUnit does."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TextIO

from bnlint.findings import Finding, Run, display_path
from bnlint.report._common import details, ordered

TOOL = "bnlint"  # the testcase of what belongs to no file
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # no XML 1.0 character can say these


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _body(f: Finding, where: str) -> str:
    if f.path and f.line:
        where += f":{f.line}:{f.col or 1}"
    return "\n".join([f"{where}: {f.code} [{f.severity.value}] {f.message}", *details(f)])


def report(run: Run, out: TextIO, options) -> None:
    suite = ET.Element("testsuite", name="bnlint")
    cases: dict[str, ET.Element] = {}

    def case(name: str) -> ET.Element:
        if name not in cases:
            file = {"file": name} if name != TOOL else {}
            cases[name] = ET.SubElement(suite, "testcase", classname=name, name=name, **file)
        return cases[name]

    for f in ordered(run):
        name = display_path(f.path) if f.path else TOOL  # a finding without a file is the tool's
        failure = ET.SubElement(case(name), "failure", type=f.code, message=_clean(f.message))
        failure.text = _clean(_body(f, name))
    for e in run.internal_errors:
        ET.SubElement(case(TOOL), "error", type="internal-error", message=_clean(e.splitlines()[0] if e else "")).text = _clean(e)
    if not cases:
        case(TOOL)  # passing: "1 test", never "0 tests"
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases.values())))
    suite.set("errors", str(sum(c.find("error") is not None for c in cases.values())))
    ET.indent(suite)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n")

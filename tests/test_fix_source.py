"""Source fixes (bnlint.fix.source): each edit on small real files, exact
output text, layout and comments kept, idempotence, the one-call-many-modules
rule, and positions that do not match (skipped, never the wrong line)."""

from __future__ import annotations

import ast
import io
import os
import shutil
import textwrap
import tokenize
from pathlib import Path

import pytest

pytest.importorskip("libcst", reason="source fixes need libcst (not yet a declared dependency)")

from bnlint.findings import Finding, FixSafety, Severity  # noqa: E402
from bnlint.fix.source import flip_momentum, groupnorm_groups, plan_fixes  # noqa: E402

from helpers import FIXTURES  # noqa: E402

SAFETY = {"BN101": FixSafety.SAFE, "BN203": FixSafety.SAFE}


def finding(code, path, line, col, *, module="layer", model="Net", fix="the fix", source="model", **extra):
    """A finding as the analysis reports it; the extras the lead adds to model
    findings (site_modules, num_features, momentum, rank, groups) are passed in."""
    if code != "BN203" and source == "model":
        extra.setdefault("site_modules", 1)
    return Finding(
        code=code, name=code.lower(), severity=Severity.WARNING, message=f"{code} here",
        path=str(path), line=line, col=col, model=model, module=module, fix=fix,
        fix_safety=SAFETY.get(code, FixSafety.UNSAFE) if fix else None, source=source, extra=extra,
    )


def where(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """(line, 1-based column in UTF-8 bytes) of the nth occurrence of
    ``needle``: what CPython's positions and ``ast`` report."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        start = 0
        while (j := line.find(needle, start)) >= 0:
            if seen == nth:
                return i, len(line[:j].encode("utf-8")) + 1
            seen += 1
            start = j + 1
    raise AssertionError(f"{needle!r} not in the text")


def write(tmp_path: Path, text: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def fixed(path: Path, findings, unsafe=False):
    """Plan, write, and check the plan is idempotent: planning the same
    findings again on the written file changes nothing. Returns (text, plan)."""
    plan = plan_fixes(findings, unsafe=unsafe)
    plan.write()
    again = plan_fixes(findings, unsafe=unsafe)
    assert again.diff() == "" and not again.applied, again.diff()
    return path.read_text(), plan


def reasons(plan) -> dict:
    """Why each skipped finding was skipped, by its module."""
    return {f.module: why for f, why in plan.skipped}


def fix_one(tmp_path, text, code, needle, unsafe=False, nth=0, **kw):
    path = write(tmp_path, text)
    src = path.read_text()
    out, plan = fixed(path, [finding(code, path, *where(src, needle, nth), **kw)], unsafe=unsafe)
    return out, plan


# -- BN101: bias=False ------------------------------------------------------------


def test_bn101_adds_bias_false_and_keeps_comments(tmp_path):
    out, plan = fix_one(tmp_path, """\
        import torch.nn as nn

        # the stem
        stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1),  # 3x3
                             nn.BatchNorm2d(16))
        """, "BN101", "nn.Conv2d")
    assert out == textwrap.dedent("""\
        import torch.nn as nn

        # the stem
        stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False),  # 3x3
                             nn.BatchNorm2d(16))
        """)
    assert [what for _, what in plan.applied] == ["added bias=False to nn.Conv2d(...) at 4:22"]


def test_bn101_replaces_a_literal_true_keyword_or_positional(tmp_path):
    path = write(tmp_path, """\
        import torch
        from torch import nn

        a = torch.nn.Conv2d(3, 8, 3, bias = True)
        b = nn.Linear(4, 4, True)
        """)
    src = path.read_text()
    out, plan = fixed(path, [
        finding("BN101", path, *where(src, "torch.nn.Conv2d"), module="a"),
        finding("BN101", path, *where(src, "nn.Linear"), module="b"),
    ])
    assert out.splitlines()[3:] == ["a = torch.nn.Conv2d(3, 8, 3, bias = False)", "b = nn.Linear(4, 4, False)"]
    assert len(plan.applied) == 2


def test_bn101_multiline_calls_keep_their_layout(tmp_path):
    out, _ = fix_one(tmp_path, """\
        import torch.nn as nn

        conv = nn.Conv2d(
            in_channels=3,  # RGB
            out_channels=64,
            kernel_size=3,  # small
        )
        conv2 = nn.Conv2d(
            3,
            64,
            3  # last, no trailing comma
            # a comment before the parenthesis
        )
        """, "BN101", "nn.Conv2d")
    assert "    kernel_size=3,  # small\n    bias=False,\n)\n" in out
    path = tmp_path / "model.py"
    out, _ = fixed(path, [finding("BN101", path, *where(out, "nn.Conv2d", 1))])
    assert out.endswith(
        "    3,  # last, no trailing comma\n    bias=False\n    # a comment before the parenthesis\n)\n"
    )


def test_bn101_non_literal_bias_is_skipped_with_a_reason(tmp_path):
    src = "import torch.nn as nn\n\ndef block(c, use_bias):\n    return nn.Conv2d(c, c, 3, bias=use_bias)\n"
    path = write(tmp_path, src)
    plan = plan_fixes([finding("BN101", path, *where(src, "nn.Conv2d"))])
    assert plan.diff() == "" and not plan.applied
    (_, why), = plan.skipped
    assert "bias=use_bias" in why and "not a literal" in why


def test_bn101_star_kwargs_and_foreign_classes_are_skipped(tmp_path):
    src = textwrap.dedent("""\
        import torch.nn as nn
        from mylib import Conv2d

        class MyConv(nn.Conv2d):
            pass

        class OwnInit(nn.Conv2d):
            def __init__(self, c):
                super().__init__(c, c, 3)

        a = nn.Conv2d(3, 8, 3, **opts)
        b = Conv2d(3, 8, 3)
        c = MyConv(3, 8, 3)
        d = OwnInit(8)
        """)
    path = write(tmp_path, src)
    line, col = where(src, "b = Conv2d")
    plan = plan_fixes(
        [finding("BN101", path, *where(src, n), module=n) for n in ("nn.Conv2d(3", "MyConv(3", "OwnInit(8")]
        + [finding("BN101", path, line, col + 4, module="Conv2d(3, 8")]
    )
    skipped = reasons(plan)
    assert "**kwargs" in skipped["nn.Conv2d(3"]
    assert "no Conv/ConvTranspose/Linear call starts" in skipped["Conv2d(3, 8"]  # mylib's, not torch's
    assert "no Conv/ConvTranspose/Linear call starts" in skipped["OwnInit(8"]  # its own signature
    assert [f.module for f, _ in plan.applied] == ["MyConv(3"]  # a subclass with torch's signature
    assert "c = MyConv(3, 8, 3, bias=False)" in plan.diff()


# -- BN203: training=self.training ------------------------------------------------

BN203_SRC = """\
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def forward(self, x):
        x = F.dropout(x, 0.5)  # keep
        return F.dropout2d(
            x,
            p=0.1,
        )

    @staticmethod
    def helper(x):
        return F.dropout(x, 0.2)


def augment(x):
    return F.dropout(x, 0.3)
"""


def test_bn203_adds_training_in_methods_only(tmp_path):
    path = write(tmp_path, BN203_SRC)
    fs = [finding("BN203", path, *where(BN203_SRC, "F.dropout", i), module=str(i)) for i in range(4)]
    out, plan = fixed(path, fs)
    assert out == BN203_SRC.replace(
        "F.dropout(x, 0.5)  # keep", "F.dropout(x, 0.5, training=self.training)  # keep"
    ).replace("            p=0.1,\n", "            p=0.1,\n            training=self.training,\n")
    assert sorted(f.module for f, _ in plan.applied) == ["0", "1"]
    skipped = reasons(plan)
    assert "not inside a method with self" in skipped["2"]  # a staticmethod has no self
    assert "not inside a method with self" in skipped["3"]


def test_bn203_explicit_training_true_has_no_fix(tmp_path):
    src = "import torch.nn.functional as F\nclass N:\n    def forward(self, x):\n        return F.dropout(x, 0.5, True)\n"
    path = write(tmp_path, src)
    plan = plan_fixes([finding("BN203", path, *where(src, "F.dropout"), fix=None)])
    assert plan.diff() == "" and not plan.applied and not plan.skipped


def test_bn203_model_finding_without_column_takes_the_lines_one_call(tmp_path):
    # Forward lines from an FX trace carry no column (col 1).
    path = write(tmp_path, BN203_SRC + "\nclass Two(nn.Module):\n    def forward(self, x):\n        return F.dropout(x) + F.dropout(x)\n")
    lines = path.read_text().splitlines()
    plan = plan_fixes([
        finding("BN203", path, 7, 1, module="one"),
        finding("BN203", path, len(lines), 1, module="two"),
        finding("BN203", path, 8, 1, module="src", source="source"),  # a source finding's column is exact
    ])
    assert [f.module for f, _ in plan.applied] == ["one"]
    skipped = reasons(plan)
    assert "2 F.dropout calls" in skipped["two"]
    assert "no F.dropout call starts at 8:1" in skipped["src"]


# -- unsafe: BN202, BN103, BN301/BN302 --------------------------------------------


def test_unsafe_fixes_need_unsafe_true(tmp_path):
    src = "import torch.nn as nn\nd = nn.Dropout(0.2)\nb = nn.BatchNorm2d(16, momentum=0.9)\n"
    path = write(tmp_path, src)
    fs = [
        finding("BN202", path, *where(src, "nn.Dropout"), rank=4),
        finding("BN103", path, *where(src, "nn.BatchNorm2d"), momentum=0.9),
    ]
    plan = plan_fixes(fs)
    assert plan.diff() == "" and not plan.applied and not plan.skipped and plan.withheld == fs
    out, plan = fixed(path, fs, unsafe=True)
    assert out == "import torch.nn as nn\nd = nn.Dropout2d(0.2)\nb = nn.BatchNorm2d(16, momentum=0.1)\n"


def test_bn202_keeps_the_spelling_of_the_prefix(tmp_path):
    src = textwrap.dedent("""\
        import torch
        import torch.nn as nn
        from torch.nn import Dropout, ReLU

        a = nn.Dropout(p=0.1)
        b = torch.nn.Dropout(0.1, inplace=True)
        c = Dropout(0.3)
        e = nn.Dropout(0.4)
        """)
    path = write(tmp_path, src)
    out, plan = fixed(path, [
        finding("BN202", path, *where(src, "nn.Dropout(p"), module="a", rank=4),
        finding("BN202", path, *where(src, "torch.nn.Dropout"), module="b", rank=5),
        finding("BN202", path, *where(src, "Dropout(0.3"), module="c", rank=4),
        finding("BN202", path, *where(src, "nn.Dropout(0.4"), module="e"),  # no rank
    ], unsafe=True)
    assert out == textwrap.dedent("""\
        import torch
        import torch.nn as nn
        from torch.nn import Dropout, ReLU, Dropout2d

        a = nn.Dropout2d(p=0.1)
        b = torch.nn.Dropout3d(0.1, inplace=True)
        c = Dropout2d(0.3)
        e = nn.Dropout(0.4)
        """)
    (f, why), = plan.skipped
    assert f.module == "e" and "rank" in why


def test_bn202_bare_name_imported_another_way_is_skipped(tmp_path):
    src = "from torch.nn import Dropout as Drop\nd = Drop(0.1)\n"
    path = write(tmp_path, src)
    plan = plan_fixes([finding("BN202", path, 2, 5, rank=4)], unsafe=True)
    (_, why), = plan.skipped
    assert "from torch.nn import Drop" in why and plan.diff() == ""


@pytest.mark.parametrize("literal,expected", [
    ("0.9", "0.1"), ("0.99", "0.01"), ("0.999", "0.001"), ("0.75", "0.25"), ("9e-1", "0.1"), ("0.9_9", "0.01"),
])
def test_flip_momentum_is_exact(literal, expected):
    assert flip_momentum(literal) == expected


def test_bn103_flips_literal_momentum_only(tmp_path):
    src = textwrap.dedent("""\
        import torch.nn as nn

        a = nn.BatchNorm1d(8, 1e-5, 0.99)  # positional
        b = nn.BatchNorm2d(8, momentum=mom)
        c = nn.BatchNorm2d(8)
        d = nn.BatchNorm2d(8, momentum=1.0)
        """)
    path = write(tmp_path, src)
    out, plan = fixed(path, [
        finding("BN103", path, *where(src, "nn.BatchNorm1d"), module="a", momentum=0.99),
        finding("BN103", path, *where(src, "nn.BatchNorm2d", 0), module="b", momentum=0.9),
        finding("BN103", path, *where(src, "nn.BatchNorm2d", 1), module="c", momentum=0.9),
        finding("BN103", path, *where(src, "nn.BatchNorm2d", 2), module="d", momentum=1.0),
    ], unsafe=True)
    assert out == src.replace("1e-5, 0.99)", "1e-5, 0.01)")
    skipped = reasons(plan)
    assert "momentum=mom, not a number literal" in skipped["b"]
    assert "passes no momentum" in skipped["c"]
    assert "freeze the running statistics" in skipped["d"]


def test_bn103_source_that_disagrees_with_the_model_is_skipped(tmp_path):
    src = "import torch.nn as nn\nb = nn.BatchNorm2d(8, momentum=0.8)\n"
    path = write(tmp_path, src)
    plan = plan_fixes([finding("BN103", path, 2, 5, momentum=0.99)], unsafe=True)
    (_, why), = plan.skipped
    assert "changed since the analysis" in why and plan.diff() == ""


@pytest.mark.parametrize("c,g", [(64, 32), (48, 16), (32, 16), (16, 8), (2, 1), (3, 1), (96, 32), (1, None)])
def test_groupnorm_groups_never_leaves_one_channel_per_group(c, g):
    assert groupnorm_groups(c) == g
    if g:
        assert c % g == 0 and c // g >= 2


def test_bn302_batchnorm_becomes_groupnorm(tmp_path):
    src = textwrap.dedent("""\
        import torch.nn as nn
        from torch.nn import BatchNorm2d

        class Net(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.a = nn.BatchNorm2d(64, eps=1e-3, momentum=0.01, affine=False)  # stem
                self.b = nn.BatchNorm2d(
                    width,
                    1e-4,
                    track_running_stats=False,
                )
                self.c = BatchNorm2d(num_features=48)
                self.d = nn.BatchNorm2d(width)
                self.e = nn.BatchNorm1d(1)
        """)
    path = write(tmp_path, src)
    out, plan = fixed(path, [
        finding("BN302", path, *where(src, "nn.BatchNorm2d(64"), module="a"),
        finding("BN302", path, *where(src, "nn.BatchNorm2d(", 1), module="b", num_features=96, groups=24),
        finding("BN301", path, *where(src, "BatchNorm2d(num"), module="c"),
        finding("BN302", path, *where(src, "nn.BatchNorm2d(width)"), module="d"),
        finding("BN301", path, *where(src, "nn.BatchNorm1d"), module="e"),
    ], unsafe=True)
    assert out == textwrap.dedent("""\
        import torch.nn as nn
        from torch.nn import BatchNorm2d, GroupNorm

        class Net(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.a = nn.GroupNorm(32, 64, eps=1e-3, affine=False)  # stem
                self.b = nn.GroupNorm(
                    24,
                    width,
                    eps=1e-4,
                )
                self.c = GroupNorm(16, num_channels=48)
                self.d = nn.BatchNorm2d(width)
                self.e = nn.BatchNorm1d(1)
        """)
    skipped = reasons(plan)
    assert "channel count width is not a literal" in skipped["d"]
    assert "1 channel(s)" in skipped["e"]


def test_a_batchnorm_swapped_for_groupnorm_has_no_momentum_to_flip(tmp_path):
    src = "import torch.nn as nn\nbn = nn.BatchNorm2d(64, momentum=0.9)\n"
    path = write(tmp_path, src)
    out, plan = fixed(path, [
        finding("BN103", path, 2, 6, momentum=0.9),
        finding("BN302", path, 2, 6),
    ], unsafe=True)
    assert out == "import torch.nn as nn\nbn = nn.GroupNorm(32, 64)\n"
    assert [f.code for f, _ in plan.applied] == ["BN302"]
    assert "superseded" in plan.skipped[0][1]


# -- one call, many modules ---------------------------------------------------------

LOOP_SRC = """\
import torch.nn as nn


def make_layers(cfg):
    layers = []
    c = 3
    for v in cfg:
        layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v) if v > 16 else nn.ReLU()]
        c = v
    return nn.Sequential(*layers)
"""


@pytest.mark.parametrize("site_modules,fixes", [(3, False), (None, False), (2, True)])
def test_a_call_building_several_modules_is_fixed_only_when_all_have_the_finding(tmp_path, site_modules, fixes):
    path = write(tmp_path, LOOP_SRC)
    line, col = where(LOOP_SRC, "nn.Conv2d")
    fs = [finding("BN101", path, line, col, module=m, site_modules=site_modules) for m in ("0", "2")]
    if site_modules is None:
        fs = [f.with_(extra={}) for f in fs]
    plan = plan_fixes(fs)
    if fixes:
        assert len(plan.applied) == 2 and "nn.Conv2d(c, v, 3, padding=1, bias=False)" in plan.diff()
        return
    assert plan.diff() == "" and not plan.applied and len(plan.skipped) == 2
    why = plan.skipped[0][1]
    assert "loop or a helper" in why and "without the problem" in why
    if site_modules == 3:
        assert "builds 3 modules and only 2 of them have BN101" in why


# -- never the wrong line -----------------------------------------------------------


def test_a_finding_that_points_elsewhere_is_skipped(tmp_path):
    src = "import torch.nn as nn\nconv = nn.Conv2d(3, 8, 3)\nbn = nn.BatchNorm2d(8)\nfc = nn.Linear(4, 4)\n"
    path = write(tmp_path, src)
    plan = plan_fixes([
        finding("BN101", path, 2, 9, module="off-by-one"),
        finding("BN101", path, 3, 6, module="a BN"),
        finding("BN101", path, 1, 1, module="an import"),
        finding("BN101", path, 40, 1, module="past the end"),
        finding("BN101", path, 2, 90, module="past the line"),
    ])
    assert plan.diff() == "" and not plan.applied
    skipped = reasons(plan)
    assert "no Conv/ConvTranspose/Linear call starts at 2:9" in skipped["off-by-one"]
    assert "(there: nn.BatchNorm2d(...))" in skipped["a BN"]
    assert "changed since the analysis" in skipped["an import"]
    assert "past the end of the file" in skipped["past the end"]
    assert "no column 90" in skipped["past the line"]


def test_columns_count_utf8_bytes_as_cpython_does(tmp_path):
    src = 'import torch.nn as nn\nlabel = "süß"; conv = nn.Conv2d(3, 8, 3)\n'
    path = write(tmp_path, src)
    call = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call))
    assert call.col_offset + 1 != src.splitlines()[1].index("nn.Conv2d") + 1  # bytes, not characters
    out, _ = fixed(path, [finding("BN101", path, call.lineno, call.col_offset + 1)])
    assert out.endswith('conv = nn.Conv2d(3, 8, 3, bias=False)\n')


def test_line_endings_and_form_feeds_are_kept(tmp_path):
    path = tmp_path / "crlf.py"
    path.write_bytes(b"import torch.nn as nn\r\n\x0c\r\nconv = nn.Conv2d(3, 8, 3)\r\n")
    out, _ = fixed(path, [finding("BN101", path, 3, 8)])
    assert path.read_bytes() == b"import torch.nn as nn\r\n\x0c\r\nconv = nn.Conv2d(3, 8, 3, bias=False)\r\n"


def test_files_that_do_not_parse_or_changed_are_skipped(tmp_path):
    broken = write(tmp_path, "import torch.nn as nn\nconv = nn.Conv2d(3, 8, 3\n", "broken.py")
    plan = plan_fixes([finding("BN101", broken, 2, 8), finding("BN101", tmp_path / "gone.py", 1, 1)])
    assert not plan.applied and plan.diff() == ""
    whys = [why for _, why in plan.skipped]
    assert "does not parse" in whys[0] or "does not parse" in whys[1]
    assert any("cannot read" in w for w in whys)

    src = "import torch.nn as nn\nconv = nn.Conv2d(3, 8, 3)\n"
    path = write(tmp_path, src)
    plan = plan_fixes([finding("BN101", path, 2, 8)])
    assert plan.diff()
    path.write_text(src + "# edited meanwhile\n")
    assert plan.write() == []
    assert path.read_text().endswith("# edited meanwhile\n")
    assert "changed after the fixes were planned" in plan.skipped[0][1] and not plan.applied


def test_diff_paths_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    src = "import torch.nn as nn\nconv = nn.Conv2d(3, 8, 3)"  # no newline at the end
    (tmp_path / "pkg").mkdir()
    path = write(tmp_path, src, "pkg/net.py")
    monkeypatch.chdir(tmp_path)
    plan = plan_fixes([finding("BN101", path, 2, 8)])
    assert plan.diff() == (
        "--- a/pkg/net.py\n+++ b/pkg/net.py\n@@ -1,2 +1,2 @@\n import torch.nn as nn\n"
        "-conv = nn.Conv2d(3, 8, 3)\n\\ No newline at end of file\n"
        "+conv = nn.Conv2d(3, 8, 3, bias=False)\n\\ No newline at end of file\n"
    )
    assert plan.write() == [str(path)]
    assert plan_fixes([]).diff() == ""


# -- idempotence, as a property ---------------------------------------------------

try:
    from hypothesis import HealthCheck, given, settings, strategies as st
except ImportError:  # the property is skipped, visibly, not the whole file
    st = None


def _comments(text: str) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]


if st is None:

    @pytest.mark.skip(reason="the property tests need hypothesis")
    def test_bias_false_is_exact_and_idempotent():
        pass

else:

    _KEYWORDS = ["stride=1", "padding=1", "dilation=1", "groups=1", "padding_mode='zeros'", "bias=True"]

    @st.composite
    def conv_calls(draw):
        """An `nn.Conv2d(...)` call: keywords in random order (bias=True maybe
        among them), one line or one argument per line, comments, trailing comma."""
        args = ["3", "16", "3"][: draw(st.integers(2, 3))]
        if len(args) == 2:
            args.append("kernel_size=3")
        keywords = draw(st.permutations(_KEYWORDS))
        args += keywords[: draw(st.integers(0, len(keywords)))]
        comments = [draw(st.sampled_from(["", f"  # c{i}"])) for i in range(len(args))]
        trailing = draw(st.booleans())
        spaced = draw(st.booleans())
        if spaced:
            args = [a.replace("=", " = ", 1) if "=" in a and draw(st.booleans()) else a for a in args]
        if draw(st.booleans()):  # one argument per line
            indent = " " * draw(st.sampled_from([4, 8]))
            body = "".join(
                f"{indent}{a}{',' if i < len(args) - 1 or trailing else ''}{c}\n" for i, (a, c) in enumerate(zip(args, comments))
            )
            opening = draw(st.sampled_from(["", "  # the stem"]))
            call = f"nn.Conv2d({opening}\n{body})"
        else:
            call = "nn.Conv2d(" + ", ".join(args) + ("," if trailing else "") + ")" + comments[-1]
        return call

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(call=conv_calls())
    def test_bias_false_is_exact_and_idempotent(tmp_path, call):
        src = f"import torch.nn as nn\n\n# before\nconv = {call}\n# after\n"
        path = tmp_path / "prop.py"
        path.write_text(src)
        f = finding("BN101", path, 4, 8)
        plan = plan_fixes([f])
        plan.write()
        out = path.read_text()
        node = ast.parse(out).body[1].value
        before = ast.parse(src).body[1].value
        kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        assert kw.pop("bias") is False
        assert kw == {k.arg: ast.literal_eval(k.value) for k in before.keywords if k.arg != "bias"}
        assert [ast.dump(a) for a in node.args] == [ast.dump(a) for a in before.args]
        assert _comments(out) == _comments(src)  # every comment kept, in order
        assert plan_fixes([f]).diff() == ""  # idempotent


# -- end to end, on a real fixture ----------------------------------------------------


def test_vgg_end_to_end(tmp_path, monkeypatch):
    from bnlint.api import check_paths

    copy = tmp_path / "vgg_bn.py"
    shutil.copy(FIXTURES / "vgg_bn.py", copy)
    monkeypatch.chdir(tmp_path)
    found = check_paths([str(copy)]).findings
    bn101 = [f for f in found if f.code == "BN101"]
    assert len(bn101) == 8 and len({(f.line, f.col) for f in bn101}) == 1

    assert {f.extra["site_modules"] for f in bn101} == {8}, "the analysis counts the convs built at that line"
    # Without that count, nothing is edited.
    plan = plan_fixes([f.with_(extra={}) for f in found])
    assert plan.diff() == "" and len(plan.skipped) == 8 and "site_modules" in plan.skipped[0][1]

    plan = plan_fixes(found)
    diff = plan.diff()
    assert diff.startswith("--- a/vgg_bn.py\n+++ b/vgg_bn.py\n")
    assert "+            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1, bias=False)  # expect" in diff
    assert len(plan.applied) == 8 and plan.write() == [str(copy.resolve())]

    after = check_paths([str(copy)]).findings
    assert not [f for f in after if f.code == "BN101"]
    assert plan_fixes(after, unsafe=True).diff() == ""


def test_real_findings_without_extras_degrade_to_reasons(tmp_path):
    from bnlint.api import check_paths

    copy = tmp_path / "mlp.py"
    shutil.copy(FIXTURES / "mlp.py", copy)
    found = [f.with_(extra={}) for f in check_paths([str(copy)]).findings]  # an older analysis
    plan = plan_fixes(found, unsafe=True)
    done = {f.code for f, _ in plan.applied}
    assert "BN203" in done  # a forward line: no module count needed
    for f, why in plan.skipped:
        assert f.code in ("BN101", "BN103") and why
    assert "+        x = F.dropout(x, 0.5, training=self.training)  # expect: BN203" in plan.diff()



def test_files_parsed_ahead_are_used_only_while_unchanged(tmp_path):
    # check_paths parses the files to edit while the model analysis runs
    # (fix.source.Prepared); a file changed since must be parsed again.
    from bnlint.fix.source import Prepared

    f = tmp_path / "m.py"
    f.write_text("import torch.nn as nn\nconv = nn.Conv2d(3, 8, 3)\n")
    prepared = Prepared()
    prepared.add(str(f))
    prepared.add(str(f))  # asked twice, parsed once
    prepared.finish()
    raw = f.read_bytes()
    assert prepared.take(os.path.realpath(f), raw + b"\n") is None
    prepared = Prepared()
    prepared.add(str(f))
    prepared.finish()
    assert prepared.take(os.path.realpath(f), raw) is not None
    assert prepared.take(os.path.realpath(f), raw) is None  # taken once

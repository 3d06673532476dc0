"""User code runs as a guest: each file as if checked alone, nothing of the
user's touched, paths that do not trip the run, each user function run once."""

import builtins
import json
import os
import textwrap

from bnlint.model.worker import analyze_file

from helpers import run_cli

BLOCKS = textwrap.dedent(
    """
    import torch.nn as nn

    class ConvBN(nn.Sequential):
        def __init__(self):
            super().__init__(nn.Conv2d(3, 8, 3, bias={bias}), nn.BatchNorm2d(8))
    """
)
TRAIN_MODEL = "from blocks import ConvBN\n\nmodel = ConvBN()\n"


def findings(proc):
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)["findings"]


def test_each_file_sees_its_own_sibling_modules_whatever_the_order(tmp_path):
    for exp, bias in (("exp1", False), ("exp2", True)):
        (tmp_path / exp).mkdir()
        (tmp_path / exp / "blocks.py").write_text(BLOCKS.format(bias=bias))
        (tmp_path / exp / "train_model.py").write_text(TRAIN_MODEL)
    for order in (["."], ["exp2", "exp1"], ["exp1/train_model.py", "exp2/train_model.py"]):
        for jobs in ("1", "2"):
            found = findings(run_cli("check", *order, "--format", "json", "-j", jobs, cwd=tmp_path))
            assert {(f["code"], f["path"]) for f in found} == {("BN101", "exp2/blocks.py")}, (order, jobs)


def test_a_monkeypatch_in_one_file_changes_no_other_result(tmp_path):
    (tmp_path / "a_patch.py").write_text(
        "import torch.nn as nn\n\nnn.BatchNorm2d = nn.Identity  # a file that monkeypatches torch\n"
        "model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())\n"
    )
    (tmp_path / "b_model.py").write_text(
        "import torch.nn as nn\n\nmodel = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))\n"
    )
    found = findings(run_cli("check", ".", "--format", "json", "-j", "1", cwd=tmp_path))
    assert [(f["code"], f["path"]) for f in found] == [("BN101", "b_model.py")]


def test_a_script_that_opens_its_log_leaves_it_untouched_and_is_still_checked(tmp_path):
    log = tmp_path / "train.log"
    log.write_bytes(b"epoch 1: loss 0.5\n")
    (tmp_path / "train.py").write_text(textwrap.dedent(
        """
        import torch.nn as nn

        LOG = open("train.log", "w")

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))
        """
    ))
    proc = run_cli("check", "train.py", "--format", "json", cwd=tmp_path)
    assert log.read_bytes() == b"epoch 1: loss 0.5\n", "the user's log must stay byte-identical"
    assert [(f["code"], f["module"]) for f in findings(proc)] == [("BN101", "conv")]
    notes = " ".join(json.loads(proc.stdout)["notes"])
    assert "train.py:4: refused to open 'train.log' for writing" in notes
    assert "definitions only" in notes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.log", "train.py"], "no __pycache__, no scratch left"


def test_processes_deletes_and_connections_are_refused(tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("x")
    f = tmp_path / "net.py"
    f.write_text(textwrap.dedent(
        f"""
        import os, socket, subprocess
        import torch.nn as nn

        for attempt in (lambda: os.remove({str(victim)!r}),
                        lambda: subprocess.run(["true"]),
                        lambda: socket.create_connection(("127.0.0.1", 9))):
            try:
                attempt()
            except OSError:
                pass

        model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        """
    ))
    result = analyze_file(str(f))
    assert victim.exists()
    assert [x.code for x in result.findings] == ["BN101"]
    note = " ".join(result.notes)
    assert "refused to delete" in note and "refused to start a process" in note
    assert "refused to open a network connection" in note


def test_a_dangling_symlink_does_not_stop_the_run(tmp_path):
    (tmp_path / "net.py").write_text("import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))\n")
    os.symlink(tmp_path / "gone.py", tmp_path / "dangling.py")
    os.symlink(tmp_path / "loop.py", tmp_path / "loop.py")
    proc = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    assert [f["path"] for f in findings(proc)] == ["net.py"]
    notes = json.loads(proc.stdout)["notes"]
    assert any("dangling.py: skipped" in n for n in notes) and any("loop.py: skipped" in n for n in notes)


def test_the_same_file_twice_is_checked_once(tmp_path):
    (tmp_path / "net.py").write_text("import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))\n")
    proc = run_cli("check", "net.py", "./net.py", ".", "--format", "json", cwd=tmp_path)
    doc = json.loads(proc.stdout)
    assert doc["summary"]["files"] == 1 and doc["summary"]["models"] == 1 and len(doc["findings"]) == 1


def test_a_class_that_needs_arguments_gets_a_note_naming_the_hook(tmp_path):
    (tmp_path / "net.py").write_text(textwrap.dedent(
        """
        import torch.nn as nn

        class Block(nn.Module):   # a building block of Net: checked with it, no note
            def __init__(self, c):
                super().__init__()
                self.bn = nn.BatchNorm2d(c)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block(8)

        class Wide(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc = nn.Linear(4, width)
        """
    ))
    result = analyze_file(str(tmp_path / "net.py"))
    assert result.models == ["Net"]
    [note] = [n for n in result.notes if "needs arguments" in n]
    assert "net.py::Wide not checked" in note and "def bnlint_models()" in note
    assert "Block" not in note


def test_a_target_failing_in_user_code_runs_once(tmp_path):
    f = tmp_path / "net.py"
    f.write_text(textwrap.dedent(
        """
        import builtins
        import torch.nn as nn

        def build():
            builtins._bnlint_calls = getattr(builtins, "_bnlint_calls", 0) + 1
            raise RuntimeError("the user's own bug")
        """
    ))
    try:
        result = analyze_file(str(f), targets=["build"])
        assert builtins._bnlint_calls == 1, "a user bug is not retried on the CPU"
        assert [x.code for x in result.findings] == ["BN001"]
        assert "the user's own bug" in result.findings[0].message
    finally:
        builtins.__dict__.pop("_bnlint_calls", None)


def test_a_meta_device_limitation_is_built_again_on_the_cpu_and_says_so(tmp_path):
    f = tmp_path / "net.py"
    f.write_text(textwrap.dedent(
        """
        import torch
        import torch.nn as nn

        def build():
            width = int(torch.tensor(8).item())  # needs real data: fails on meta
            return nn.Sequential(nn.Linear(4, width), nn.BatchNorm1d(width))
        """
    ))
    result = analyze_file(str(f), targets=["build"])
    assert [x.code for x in result.findings] == ["BN101"]
    assert any("built on the CPU: it fails on the meta device" in n for n in result.notes)


def test_the_servers_warm_up_leaves_no_trace_a_file_could_see(tmp_path):
    # The fork server analyzes a probe model of bnlint's own before it serves
    # (bnlint.model.warmup); a user's file must see neither that module nor
    # its scratch directory, even when the user's file has the probe's name.
    (tmp_path / "bnlint_probe.py").write_text(textwrap.dedent(
        """
        import sys
        import torch.nn as nn

        leaked = [m for m in sys.modules if "bnlint_probe" in m and sys.modules[m].__file__ != __file__]
        leaked += [p for p in sys.path if "bnlint-warm-up" in p]
        assert not leaked, leaked
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        """
    ))
    found = findings(run_cli("check", ".", "--format", "json", "-j", "1", cwd=tmp_path))
    assert [(f["code"], f["path"]) for f in found] == [("BN101", "bnlint_probe.py")]


def test_with_example_inputs_the_server_loads_the_shape_machinery_during_the_first_file(tmp_path):
    # torch's meta kernels import sympy (and torch._dynamo) on first use, about
    # a second. With --input-shape the server loads them in a thread while its
    # first child runs, so the files after it find them loaded; without
    # example inputs (and with only layers bnlint computes shapes for) no
    # process loads them. Each file shows what it found: a conv bias when not.
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(textwrap.dedent(
            """
            import sys
            import torch.nn as nn

            model = nn.Sequential(nn.Conv2d(3, 8, 3, bias="sympy" not in sys.modules), nn.BatchNorm2d(8))
            """
        ))
    found = findings(run_cli("check", "a.py", "b.py", "--input-shape", "2,3,8,8", "--format", "json", "-j", "1",
                             cwd=tmp_path))
    assert [(f["code"], f["path"]) for f in found if f["code"] == "BN101"] == [("BN101", "a.py")]
    found = findings(run_cli("check", "a.py", "b.py", "--format", "json", "-j", "1", cwd=tmp_path))
    assert [(f["code"], f["path"]) for f in found if f["code"] == "BN101"] == [("BN101", "a.py"), ("BN101", "b.py")]


def test_the_warm_up_probe_is_clean_and_analyzed_whole():
    # The probe exercises the paths every child takes; it must get through
    # them (a probe that fails to import or trace warms up nothing).
    from bnlint.engine.registry import all_rules
    from bnlint.model.warmup import analyze_probe

    results = []
    analyze_probe(lambda path: results.append(analyze_file(path, rules=all_rules())))
    (result,) = results
    assert result.models == ["Probe"] and not result.internal_errors
    assert [f.code for f in result.findings] == []


def test_the_server_asks_glibc_for_huge_pages_unless_the_user_chose(monkeypatch):
    from bnlint.model.process import _huge_pages

    monkeypatch.setattr("sys.platform", "linux")
    assert _huge_pages({}) == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert _huge_pages({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}) == {
        "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    }
    assert _huge_pages({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) == {}
    monkeypatch.setattr("sys.platform", "darwin")
    assert _huge_pages({}) == {}


def test_environment_variables_set_while_checking_do_not_stay(tmp_path, monkeypatch):
    # In-process (the Python API, the pytest plugin's process): what the
    # user's file sets, or torch on a first import under the scratch
    # directory (TORCHINDUCTOR_CACHE_DIR), must not outlive the check -- a
    # later bnlint subprocess inherited a path to a deleted scratch and every
    # shape run in it was refused.
    monkeypatch.delenv("BNLINT_TEST_FROM_USER", raising=False)
    monkeypatch.setenv("BNLINT_TEST_KEPT", "yes")
    f = tmp_path / "sets_env.py"
    f.write_text(
        "import os\nimport torch.nn as nn\n\n"
        "os.environ['BNLINT_TEST_FROM_USER'] = '1'\nos.environ.pop('BNLINT_TEST_KEPT')\n"
        "model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))\n"
    )
    before = dict(os.environ)
    result = analyze_file(str(f))
    assert [x.code for x in result.findings] == ["BN101"]
    assert dict(os.environ) == before

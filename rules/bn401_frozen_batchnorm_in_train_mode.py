import ast
import re
from typing import Iterator

from bnlint.findings import FixSafety, Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L
from bnlint.source import EVAL, TRAIN, TRAINING, FileStructure, Freeze, Func, ModeSet, Reentry, SourceAnalysis, Step, Thaw
from bnlint.source.structure import arch_members
from bnlint.source.walker import exclusive
from bnlint.source.syntax import const, dotted, identifiers
from bnlint.source.vocabulary import names_batchnorm_architecture


class FrozenBatchNormInTrainMode(Rule):
    """
    What it does
        Puts the model in training mode the way a training loop does
        (``model.train()``, honouring an overridden ``train()``) and finds
        BatchNorm layers whose parameters are frozen (``requires_grad=False``)
        but that are in training mode. Layers under one frozen submodule are
        reported once, at that submodule.

    Why is this bad?
        ``requires_grad=False`` freezes gamma and beta only. In training mode a
        BN still normalizes with batch statistics and overwrites its running
        mean and variance with those of the new data -- the classic way
        fine-tuning a "frozen" pretrained backbone with small batches destroys
        it.

    Example
        ::

            for p in model.backbone.parameters():
                p.requires_grad = False
            model.train()            # backbone BNs keep updating

    Use instead
        Keep those BNs in eval mode whenever the model trains::

            def train(self, mode=True):
                super().train(mode)
                for m in self.backbone.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.eval()
                return self

        or replace them with a frozen BN (``torchvision.ops.FrozenBatchNorm2d``).

    Fix safety
        Safe: ``bnlint.fix.freeze_batchnorm(model, example_inputs)`` replaces
        each frozen BN of a live model with a frozen BN module of the same
        statistics and verifies that the eval-mode function is unchanged.

    References
        - torchvision.ops.FrozenBatchNorm2d; detectron2 ``FrozenBatchNorm2d``
        - He et al., "Rethinking ImageNet Pre-training", ICCV 2019 (frozen BN in detection)
    """

    code = "BN401"
    name = "frozen-batchnorm-in-train-mode"
    severity = Severity.WARNING
    needs = ("state", "source")
    summary = "Frozen BatchNorm parameters, but the layer is in train mode: running stats still update."
    hint = "keep frozen BNs in eval() by overriding train(), or use FrozenBatchNorm2d"
    fix = "replace frozen BNs with a frozen BN module"
    fix_safety = FixSafety.SAFE

    def check_model(self, ctx):

        g = ctx.graph
        state = ctx.train_state
        flagged = {
            q for q, bn in g.modules(L.BATCHNORM)
            if state[q].training and state[q].frozen and bn.track_running_stats
        }
        if not flagged:
            return
        all_bns = {q for q, _ in g.modules(L.BATCHNORM)}

        def bns_under(prefix):
            return {q for q in all_bns if prefix == "" or q == prefix or q.startswith(prefix + ".")}

        # One finding per frozen cluster: the largest submodules whose BNs are
        # all flagged (named_modules lists parents first), then narrowed down
        # while a single child holds all of them (the model -> 'backbone').
        groups: list[str] = []
        for q, _ in g.modules():
            under = bns_under(q)
            if not under or not under <= flagged:
                continue
            if any(p == "" or q == p or q.startswith(p + ".") for p in groups):
                continue
            groups.append(q)
        for q in groups:
            under = bns_under(q)
            module = g.module(q)
            while not isinstance(module, L.BATCHNORM):
                holders = [
                    (f"{q}.{name}" if q else name, child)
                    for name, child in module.named_children()
                    if bns_under(f"{q}.{name}" if q else name)
                ]
                if len(holders) != 1:
                    break
                q, module = holders[0]
            if isinstance(module, L.BATCHNORM):
                what = f"{type(module).__name__} '{q}' has"
            else:
                where = f"'{q}'" if q else "the model"
                what = f"{len(under)} BatchNorm layers in {where} have"
            yield ctx.report(
                self,
                f"{what} frozen parameters (requires_grad=False) but train in training mode "
                "after model.train(): running statistics keep updating from the new data",
                module=q or None,
            )

    def check_source(self, ctx):
        # The script form: a model with BatchNorm layers (a torchvision/timm
        # BN architecture, or a class of this file that builds BatchNorm) is
        # frozen with requires_grad=False -- directly or through a helper such
        # as `set_parameter_requires_grad(model, True)` -- in a script that
        # trains, and nothing in the file keeps BNs in eval (no eval() of a
        # submodule or of the modules in a loop, no train() override, no
        # freeze_bn-style helper, no FrozenBatchNorm).
        # A model put in eval() where it is frozen, and never back in train()
        # there, is a frozen teacher or a linear probe: fine.
        an = ctx.flow
        if an is None or not any(True for _ in an.of(Step)) or keeps_batchnorm_in_eval(an.structure):
            return
        seen = set()
        # a freeze the same function undoes is for a step, not for the training:
        # a GAN freezes its discriminator while the generator's step runs through it
        thawed = {(id(t.func), t.key) for t in an.of(Thaw)}
        for fz in an.of(Freeze):
            if (id(fz.func), fz.key) in thawed:
                continue
            for func, key, node, via, built in _applied(an, fz):
                root = key.split(".", 1)[0]
                arch = batchnorm_architecture(an.structure, built)
                if arch is None or (id(node), key) in seen:
                    continue
                if not _trained(an, root):
                    continue  # the training steps of the script train other models
                # mode switches on no common path with the freeze do not count
                # (`if weights == "freeze": freeze...` / `elif weights == "finetune": model.train()`)
                guards = fz.guards if func is fz.func else ()
                modes = [
                    e.mode for e in an.events_of(func)
                    if isinstance(e, ModeSet) and e.key == root and not exclusive(e.guards, guards)
                ]
                # ... unless a loop's first iteration certainly trains it in
                # train mode (a probe whose eval() comes in validate(), after
                # the first epoch's steps)
                first_in_train = any(
                    step.trains.get(root) == TRAINING and not exclusive(step.guards, guards)
                    for loop in an.events_of(func) if isinstance(loop, Reentry) for step in loop.entry
                )
                probe = any(EVAL in m for m in modes) and not any(TRAIN in m for m in modes)
                if probe and not first_in_train:
                    continue
                seen.add((id(node), key))
                via = via or fz.via
                how = f"by {via}()" if via else "with requires_grad=False"
                until = " until its first eval()" if probe else ""
                yield ctx.report(
                    self,
                    f"'{key}' ({arch}) is frozen {how}, but the script "
                    f"trains with its BatchNorm layers in training mode{until}: their running statistics "
                    "keep updating from the new data",
                    node,
                )

    invalid = (
        Example(
            """
            import torch
            import torch.nn as nn
            from torchvision import models

            def set_parameter_requires_grad(model, feature_extracting):
                if feature_extracting:
                    for param in model.parameters():
                        param.requires_grad = False

            model_ft = models.resnet18(weights="DEFAULT")
            set_parameter_requires_grad(model_ft, True)
            model_ft.fc = nn.Linear(512, 10)
            optimizer = torch.optim.SGD(model_ft.fc.parameters(), lr=0.01)
            for epoch in range(10):
                model_ft.train()
                for x, y in loader:
                    nn.functional.cross_entropy(model_ft(x), y).backward()
                    optimizer.step()
            """,
            kind="source",
            at="set_parameter_requires_grad(model_ft, True)",
            message="'model_ft' (torchvision.models.resnet18, which has BatchNorm layers) is frozen by "
            "set_parameter_requires_grad(), but the script trains",
        ),
        Example(
            """
            import torch.nn as nn

            class FineTune(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.backbone = nn.Sequential(
                        nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                    )
                    self.head = nn.Linear(8, 2)
                    for p in self.backbone.parameters():
                        p.requires_grad = False

                def forward(self, x):
                    return self.head(self.backbone(x).mean((2, 3)))

            model = FineTune()
            """,
            at="@backbone",
            message="2 BatchNorm layers in 'backbone' have frozen parameters (requires_grad=False) but train",
        ),
        Example(
            # a class of the file that holds a BatchNorm architecture, frozen in part
            """
            import torch.nn as nn
            from torchvision.models import resnet18

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.f = resnet18()
                    self.fc = nn.Linear(1000, 10)

            model = Net()
            for param in model.f.parameters():
                param.requires_grad = False
            for epoch in range(10):
                model.train()
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()
            """,
            kind="source",
            at="param.requires_grad = False",
            message="'model.f' (class Net, which has BatchNorm layers) is frozen with "
            "requires_grad=False",
        ),
    )
    valid = (
        Example(
            # martinarjovsky/WassersteinGAN: the discriminator is frozen for
            # the generator's step only and unfrozen for its own next step
            """
            import torch
            from torchvision import models

            netD = models.resnet18()
            netG = Generator()
            for epoch in range(10):
                for real in loader:
                    for p in netD.parameters():
                        p.requires_grad = True
                    netD(real).mean().backward()
                    optimizerD.step()
                    for p in netD.parameters():
                        p.requires_grad = False  # to avoid computation
                    netD(netG(noise)).mean().backward()
                    optimizerG.step()
            """,
            kind="source",
        ),
        Example(
            # the frozen backbone's BNs are put back in eval after train()
            """
            import timm

            model = timm.create_model("resnet50", pretrained=True, num_classes=10)
            model.requires_grad_(False)
            model.get_classifier().requires_grad_(True)
            for epoch in range(10):
                model.train()
                for m in model.modules():
                    if isinstance(m, torch.nn.BatchNorm2d):
                        m.eval()
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()
            """,
            kind="source",
        ),
        Example(
            # a frozen teacher in eval(), a student that trains
            """
            import torch
            from torchvision import models

            teacher = models.resnet50(weights="DEFAULT")
            teacher.requires_grad_(False)
            teacher.eval()
            student = models.resnet18()
            for x, y in loader:
                with torch.no_grad():
                    target = teacher(x)
                torch.nn.functional.mse_loss(student(x), target).backward()
                optimizer.step()
            """,
            kind="source",
        ),
        Example(
            # a frozen model without BatchNorm (a ViT) is fine
            """
            import torch
            from torchvision import models

            model = models.vit_b_16(weights="DEFAULT")
            for p in model.parameters():
                p.requires_grad = False
            for x, y in loader:
                model(x).sum().backward()
                optimizer.step()
            """,
            kind="source",
        ),
        Example(
            """
            import torch.nn as nn

            class FineTune(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU())
                    self.head = nn.Linear(8, 2)
                    for p in self.backbone.parameters():
                        p.requires_grad = False

                def train(self, mode=True):
                    super().train(mode)
                    self.backbone.eval()        # frozen BNs stay in eval
                    return self

                def forward(self, x):
                    return self.head(self.backbone(x).mean((2, 3)))

            model = FineTune()
            """
        ),
    )


# -- the script form: which frozen models hold BatchNorm, and what keeps it in eval --
_KEEPS_BN_EVAL = re.compile(
    r"(?:bn|batch_?norm|norm)\w*(?:eval|freez|frozen|fix)|(?:freez|frozen|fix)\w*(?:bn|batch_?norm)"
    r"|FrozenBatchNorm|track_running_stats|freeze_norm|freeze_bn",
    re.I,
)


def _trained(an: SourceAnalysis, root: str) -> bool:
    """Whether some training step of the file trains the model named ``root``
    (or one of its submodules)."""
    return any(k.split(".", 1)[0] == root for step in an.of(Step) for k in step.trains)


def _applied(an: SourceAnalysis, fz: Freeze) -> Iterator[tuple[Func, str, ast.AST, str | None, str | None]]:
    """Where a freeze takes effect, with what the frozen model was built
    as there: the freeze itself, and for a helper that freezes its
    parameter, each call of the helper (with the caller's key)."""
    yield fz.func, fz.key, fz.node, None, fz.arch
    if fz.key.split(".", 1)[0] not in fz.func.params:
        if fz.arch is None:  # a global model frozen in a function: as its callers built it
            for c in an.callers_of(fz.func):
                bound = c.bound(fz.key)
                if bound is not None and bound[1] == fz.key and c.archs.get(bound[0]):
                    yield fz.func, fz.key, fz.node, None, c.archs[bound[0]]
        return
    for c in an.callers_of(fz.func):
        bound = c.bound(fz.key)
        if bound is not None and bound[1]:
            yield c.caller, bound[1], c.node, fz.func.qualname, c.archs.get(bound[0])


def batchnorm_architecture(structure: FileStructure, arch: str | None) -> str | None:
    """What ``arch`` is, said with its BatchNorm layers (``class Net, which
    has BatchNorm layers``), when it has them; None when it has none or is
    unknown. A registry pick (:func:`arch_members`) has them when each of
    its choices does."""
    if arch is None:
        return None
    members = arch_members(arch)
    if len(members) == 1:
        shown = _batchnorm_arch_name(structure, arch)
        return f"{shown}, which has BatchNorm layers" if shown is not None else None
    names = [_batchnorm_arch_name(structure, a) for a in members]
    if None in names:
        return None
    unique = sorted({n.removeprefix("class ") for n in names})  # type: ignore[union-attr]
    more = f" and {len(unique) - 3} more" if len(unique) > 3 else ""
    return f"one of {', '.join(unique[:3])}{more}, picked by name; each has BatchNorm layers"


def _batchnorm_arch_name(structure: FileStructure, arch: str) -> str | None:
    """One architecture (a class of the tree, a torch.nn layer, a builder),
    readably, when it has BatchNorm layers."""
    found = structure.arch_class(arch)
    if found is not None:
        other, name = found
        shown = name if ":" in arch else arch  # a class of another file is shown by its name
        return f"class {shown}" if other.has_batchnorm(name) else None
    if arch.startswith("torch.nn."):
        return arch if "BatchNorm" in arch else None
    return arch if names_batchnorm_architecture(arch) else None


def keeps_batchnorm_in_eval(structure: FileStructure) -> bool:
    """Signs that a file keeps (some) BatchNorm layers in eval while training:
    a ``freeze_bn``/``set_bn_eval``-style name, FrozenBatchNorm, a ``train()``
    override, ``eval()`` of a submodule (``model.backbone.eval()``), of the
    modules in a loop over ``.modules()``/``.children()``, or applied with
    ``.apply()``."""
    # identifiers, not comments: `# model.apply(freeze_bn)` keeps nothing in eval
    if any(_KEEPS_BN_EVAL.search(name) for name in identifiers(structure.tree)):
        return True
    if any("train" in c.method_names for c in structure.classes.values() if c.managed):
        return True
    evaluating = {
        name for name, f in structure.functions.items()
        if any(_is_eval_call(n) for n in ast.walk(f.node))
    }
    for node in ast.walk(structure.tree):
        if _is_eval_call(node):
            key = dotted(node.func.value) or ""  # type: ignore[attr-defined]
            parts = [p for p in key.split(".") if p != "module"]
            if parts[:1] == ["self"]:
                parts = parts[1:]
            if len(parts) > 1:
                return True
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            it = node.iter
            if (
                isinstance(it, ast.Call)
                and isinstance(it.func, ast.Attribute)
                and it.func.attr in ("modules", "children", "named_modules", "named_children")
                and any(_is_eval_call(n) for n in ast.walk(node))
            ):
                return True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "apply":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Name) and arg.id in evaluating:
                return True
            if isinstance(arg, ast.Lambda) and any(_is_eval_call(n) for n in ast.walk(arg)):
                return True
    return False


def _is_eval_call(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    if node.func.attr == "eval" and not node.args:
        return True
    return node.func.attr == "train" and bool(node.args) and const(node.args[0]) is False

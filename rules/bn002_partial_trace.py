from bnlint.engine.rule import Example, Rule
from bnlint.findings import Severity, display_path


class PartialTrace(Rule):
    """
    What it does
        Reports a module whose ``forward`` could not be traced with torch.fx
        (data-dependent control flow, ``len()`` of a tensor, calls FX cannot
        record), with the reason and the line where tracing stopped.

    Why is this bad?
        bnlint made that module an opaque node and traced the rest of the model
        around it, then each of its submodules on its own (an ``nn.Sequential``
        always traces, so its order is real dataflow). Patterns that cross the
        opaque module's boundary -- a conv outside feeding a BN inside -- can be
        missed. Module-level rules (momentum, running stats, frozen BN) still
        see everything.

    Example
        ::

            class Gate(nn.Module):
                def forward(self, x):
                    if x.sum() > 0:          # depends on the data
                        return self.a(x)
                    return self.b(x)

    Use instead
        Nothing is wrong with the model. To analyze the inside fully, avoid
        Python control flow on tensor values in ``forward`` (use ``torch.where``),
        or accept the partial analysis.

    References
        - torch.fx documentation, "Limitations of Symbolic Tracing"
    """

    code = "BN002"
    name = "partial-trace"
    severity = Severity.INFO
    needs = ("graph",)
    summary = "Part of a model could only be analyzed as a module tree."

    def check_model(self, ctx):
        # One finding per model: the first part that could not be traced,
        # why and where, and how many parts there are in all.
        opaque = list(ctx.graph.opaque)
        if not opaque:
            return
        op = opaque[0]
        where = f" at {display_path(op.where.path)}:{op.where.line}" if op.where else ""
        what = f"'{op.qualname}' ({op.type_name})" if op.qualname else f"the model ({op.type_name})"
        why = f"{op.reason}{where}"
        if op.run_failure:
            why += f"; running it on meta tensors failed too: {op.run_failure}"
        others = ""
        if len(opaque) > 1:
            names = ", ".join(f"'{o.qualname or o.type_name}'" for o in opaque[1:4])
            more = f" and {len(opaque) - 4} more" if len(opaque) > 4 else ""
            others = f"; {len(opaque)} parts in all could not be traced ({what}, {names}{more})"
        yield ctx.report(
            self,
            f"forward of {what} could not be traced ({why}){others}; "
            "its submodules were analyzed separately, so patterns that cross it may be missed",
            module=op.qualname or None,
            extra={"untraced_parts": len(opaque)},
        )

    invalid = (
        Example(
            """
            import torch.nn as nn

            class Gate(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.a = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))
                    self.b = nn.Identity()

                def forward(self, x):
                    if x.sum() > 0:
                        return self.a(x)
                    return self.b(x)

            model = nn.Sequential(Gate(), nn.ReLU())
            """,
            at="@0",
            message="could not be traced",
        ),
    )
    valid = (
        Example(
            """
            import torch
            import torch.nn as nn

            class Gate(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.a = nn.Conv2d(3, 8, 3, padding=1)

                def forward(self, x, mask=None):      # defaults are specialized
                    y = self.a(x)
                    if mask is not None:
                        y = y * mask
                    return torch.where(y > 0, y, 0.1 * y)

            model = Gate()
            """
        ),
    )

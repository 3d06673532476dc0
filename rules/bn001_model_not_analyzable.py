from bnlint.findings import Severity
from bnlint.engine.rule import Example, Rule


class ModelNotAnalyzable(Rule):
    """
    What it does
        Reports a file that could not be imported, or a model that could not be
        built or analyzed at all, with the exception and the line that raised it.
        bnlint goes on with the other files and models.

    Why is this bad?
        Nothing in that model was checked. A green run that silently skipped a
        model would be a false reassurance, so this is an error.

    Example
        A model whose constructor raises::

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(10, undefined_width)   # NameError

    Use instead
        Make the file importable and the model constructible with no arguments,
        or expose the models that need arguments through a module-level
        ``bnlint_models()`` hook returning ``{name: model}``, or name one with
        ``file.py::factory`` (a zero-argument function returning the model).
        Data-dependent constructors are fine: bnlint builds on the meta device
        first and retries on the CPU.

    References
        - bnlint README, "How models are discovered"
    """

    code = "BN001"
    name = "model-not-analyzable"
    severity = Severity.ERROR
    needs = ()
    summary = "A model file could not be imported, or a model could not be built."
    hint = "run the file with python to see the full traceback"

    invalid = (
        Example(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(10, undefined_width)
            """,
            at="nn.Linear(10, undefined_width)",
            message="cannot build model 'Net'",
        ),
        Example(
            """
            import torch.nn as nn
            import a_module_that_does_not_exist

            model = nn.Linear(2, 2)
            """,
            at="import a_module_that_does_not_exist",
            message="No module named",
        ),
    )
    valid = (
        Example(
            """
            import torch
            import torch.nn as nn

            class NeedsData(nn.Module):
                def __init__(self):
                    super().__init__()
                    width = int(torch.tensor(8).item())   # fails on meta, fine on CPU
                    self.fc = nn.Linear(4, width)
            """
        ),
    )

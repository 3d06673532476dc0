"""The flow state: what one path through a function knows (like mypy's
binder). Modes per model key, which names alias which model, which names
hold models, and whether ``torch.set_grad_enabled(False)`` is in force.
A branch forks the state; where paths meet, their states join.

Also the values the walk computes: :class:`Val` (what an expression is, as
far as models go) and :class:`Summary` (what a function does to the models
it shares with its callers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

TRAIN, EVAL, ENTRY = "train", "eval", "entry"
Mode = frozenset  # the modes a model may be in at one point
TRAINING = frozenset({TRAIN})
EVALUATING = frozenset({EVAL})
FROM_CALLER = frozenset({ENTRY})  # whatever the caller had
EITHER = frozenset({TRAIN, EVAL})


def substitute(mode: Mode, caller: Mode) -> Mode:
    """A callee's mode with ``entry`` replaced by what the caller had."""
    return (mode - FROM_CALLER) | caller if ENTRY in mode else mode


@dataclass(frozen=True)
class Val:
    """What an expression evaluates to, as far as models go: an alias of a
    key, or a new module in a known mode."""

    key: str | None = None
    mode: Mode | None = None
    arch: str | None = None
    live: bool = True  # may hold BatchNorm or Dropout (False: certainly none)
    # a class, not a module: what calling it builds (`{"unet": UNet, ...}[name]`)
    makes: "Val | None" = None
    # a tuple returned by a function (`return model, classifier`): what each element is
    parts: "tuple[Val | None, ...] | None" = None
    # a list or tuple of new models (`nets = [Net(), Net(bn=True)]`): one
    # mode for all of them -- the loops over it treat each alike
    many: bool = False
    # one element of such a collection, picked by index or key (`self.models["encoder"]`)
    member: bool = False
    # an object of a plain class of the file (`trainer = Trainer(model)`), not a
    # module: its methods run as calls of the file's functions, on its attributes
    instance: str | None = None
    # what its constructor stored (`self.model = model`): attribute -> the value passed
    holds: "tuple[tuple[str, Val | None], ...]" = ()


@dataclass
class Summary:
    """What a function does to the keys it shares with its callers."""

    exit: dict[str, Mode] | None  # None: never returns normally
    trains: dict[str, Mode]  # modes of the models it trains, at its training steps
    evals: set[str]  # keys it puts in eval
    uses: set[str]  # every key it shares with its callers and touches
    returns: Val | None = None
    freezes: set[str] = field(default_factory=set)  # keys it freezes (requires_grad=False)
    # parameters every training step is conditional on, each with the outcome
    # it needs (`if optimizer: ... optimizer.step()` -> {"optimizer": True})
    train_if: dict[str, bool] = field(default_factory=dict)
    # the keys it runs with gradients on (its forwards, and its callees'): they
    # feed the caller's next training step (`loss = compute_loss(model, batch)`)
    runs: set[str] = field(default_factory=set)
    # a generator's (a context manager's): the modes at its yields, which the
    # body of `with it(model):` runs in; None for other functions
    at_yield: dict[str, Mode] | None = None


# Gradients, as `torch.set_grad_enabled(...)` statements left them: the set
# of what they may be on the paths here, None for "on", else why they are off.
GRAD_ON: frozenset = frozenset({None})


class Flow:
    """The state of one path. ``default`` gives the mode of a key the path
    never set (its caller's, or unknown); it is the function's, shared by
    every fork."""

    __slots__ = ("default", "modes", "aliases", "ambiguous", "models", "grad")

    def __init__(
        self,
        default: Callable[[str], Mode],
        modes: dict[str, Mode] | None = None,
        aliases: dict[str, str] | None = None,
        ambiguous: dict[str, frozenset[str]] | None = None,
        models: set[str] | None = None,
        grad: frozenset = GRAD_ON,
    ):
        self.default = default
        self.modes = {} if modes is None else modes
        self.aliases = {} if aliases is None else aliases  # name -> the key of the model it names
        self.ambiguous = {} if ambiguous is None else ambiguous  # a name that aliases one of several
        self.models = set() if models is None else models  # names known to hold models
        self.grad = grad

    def fork(self) -> "Flow":
        return Flow(self.default, dict(self.modes), dict(self.aliases), dict(self.ambiguous), set(self.models), self.grad)

    def mode(self, key: str) -> Mode:
        """The modes ``key`` may be in; a submodule not set on its own is in
        its parent's mode (``model.backbone`` after ``model.eval()``)."""
        modes = self.modes
        if key in modes:
            return modes[key]
        parent = key
        while "." in parent:
            parent = parent.rsplit(".", 1)[0]
            if parent in modes:
                return modes[parent]
        return self.default(key)

    def set_grad(self, off: str | None) -> None:
        """``torch.set_grad_enabled(...)`` as a statement: off (and why) or on."""
        self.grad = frozenset({off})

    def grad_off(self) -> str | None:
        """Why gradients are certainly off on this path, or None."""
        if len(self.grad) == 1:
            (reason,) = self.grad
            return reason
        return None

    def signature(self) -> tuple:
        """The state, hashable: a loop reached again in the same state does
        the same."""
        return (
            frozenset(self.modes.items()), frozenset(self.aliases.items()),
            frozenset(self.ambiguous.items()), frozenset(self.models), self.grad,
        )

    def become(self, other: "Flow") -> None:
        """Take ``other``'s state, in place (an expression whose parts
        branch leaves its joined state in the state it was walked in)."""
        self.modes, self.aliases, self.ambiguous = other.modes, other.aliases, other.ambiguous
        self.models, self.grad = other.models, other.grad

    @staticmethod
    def join(a: "Flow | None", b: "Flow | None") -> "Flow | None":
        """Where two paths meet (None: a path that never gets here). A key
        one side never set has its starting mode on that side. A name the
        paths alias to different models (``net = a`` / ``net = b``) stops
        being an alias: it keeps the join of their modes and may be either."""
        if a is None:
            return None if b is None else b.fork()
        if b is None:
            return a.fork()
        modes = {k: a.mode(k) | b.mode(k) for k in a.modes.keys() | b.modes.keys()}
        aliases = {k: v for k, v in a.aliases.items() if b.aliases.get(k) == v}
        ambiguous = dict(a.ambiguous)
        for k, targets in b.ambiguous.items():
            ambiguous[k] = ambiguous.get(k, frozenset()) | targets
        for k in (a.aliases.keys() | b.aliases.keys()) - aliases.keys():
            ta, tb = a.aliases.get(k), b.aliases.get(k)
            modes[k] = a.mode(ta or k) | b.mode(tb or k)
            ambiguous[k] = ambiguous.get(k, frozenset()) | {t for t in (ta, tb) if t is not None}
        return Flow(a.default, modes, aliases, ambiguous, a.models | b.models, a.grad | b.grad)

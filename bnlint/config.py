"""One run's settings: the object the CLI builds from its flags and the API
and the pytest plugin build from keyword arguments, so that all three share
the same defaults (which rules run, which files are imported, time limits).
Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from bnlint.findings import Severity, UsageError
from bnlint.inputs import InputSpec, parse_dtypes, parse_shape

DEFAULT_TIMEOUT = 60.0  # seconds per file to import, build and analyze its models


def split_codes(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """``["BN1,BN203", "BN4"]`` -> ``("BN1", "BN203", "BN4")``."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ()  # codes, prefixes or names; () = every rule not opt-in; "ALL" = all
    ignore: tuple[str, ...] = ()
    fail_on: Severity = Severity.WARNING  # lowest severity that makes a run fail
    static: bool = False  # read every file as source only: nothing imported, no torch
    import_files: bool | None = None  # None: the import policy decides (bnlint.discover.policy)
    inputs: InputSpec | None = None  # example inputs for every model (--input-shape)
    batch_size: int | None = None  # overrides the inputs' first dimension
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if self.static and self.import_files:
            raise UsageError("--static imports nothing: it cannot be combined with --import")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"batch size {self.batch_size}: expected a positive integer")
        if self.timeout <= 0:
            raise UsageError(f"timeout {self.timeout:g}: expected a positive number of seconds")

    def rules(self):
        """The selected rule classes. Raises UsageError on a selector that
        matches no rule."""
        from bnlint.engine.registry import RegistryError, select_rules

        try:
            return select_rules(self.select, self.ignore)
        except (ValueError, RegistryError) as exc:
            raise UsageError(str(exc)) from None


def inputs_from_strings(shapes: Sequence[str] | None, dtypes: Sequence[str] | None) -> InputSpec | None:
    """``--input-shape 8,3,32,32 --dtype float32`` -> an InputSpec (or None)."""
    try:
        if shapes:
            parsed = tuple(parse_shape(s) for s in shapes)
            return InputSpec(parsed, parse_dtypes(list(dtypes or []), len(parsed)), "--input-shape")
        if dtypes:
            raise ValueError("--dtype needs --input-shape")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return None

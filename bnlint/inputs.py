"""Example-input specifications: shapes and dtypes of a forward's inputs.
Torch-free, so the command line can parse and validate them cheaply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# dtype names accepted by --dtype -> the torch attribute they name
DTYPE_ALIASES = {
    "float32": "float32", "float": "float32", "float16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "float64": "float64", "double": "float64",
    "int64": "int64", "long": "int64", "int32": "int32", "int": "int32",
    "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
}


_SHAPE = re.compile(r"\d+(?:\s*[,x]\s*\d+)*\s*,?")


def parse_shape(text: str) -> tuple[int, ...]:
    """``"8,3,224,224"`` (or ``8x3x224x224``, ``(8, 3, 224, 224)``) -> (8, 3, 224, 224).
    Every separator must sit between two numbers: ``8,x`` or ``8 3`` is an error,
    not a silently shorter or merged shape."""
    body = text.strip()
    if body[:1] + body[-1:] in ("()", "[]"):
        body = body[1:-1].strip()
    shape = tuple(int(d) for d in re.findall(r"\d+", body)) if _SHAPE.fullmatch(body) else ()
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"--input-shape {text!r}: expected positive integers like 8,3,224,224")
    return shape


def parse_dtypes(values: list[str], n_inputs: int) -> tuple[str, ...]:
    names = [v.strip() for value in values for v in value.split(",") if v.strip()]
    for name in names:
        if name.removeprefix("torch.") not in DTYPE_ALIASES:
            raise ValueError(f"--dtype {name!r}: choose from {', '.join(sorted(DTYPE_ALIASES))}")
    names = [DTYPE_ALIASES[n.removeprefix("torch.")] for n in names]
    if not names:
        return ("float32",) * n_inputs
    if len(names) != n_inputs:
        raise ValueError(f"{len(names)} --dtype value(s) for {n_inputs} --input-shape(s): give one per input")
    return tuple(names)


@dataclass(frozen=True)
class InputSpec:
    """Shapes and dtypes of the forward's positional inputs."""

    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    origin: str  # "--input-shape", "example_inputs", "bnlint_models()"

    @property
    def batch_size(self) -> int | None:
        return self.shapes[0][0] if self.shapes and self.shapes[0] else None

    def with_batch(self, n: int | None) -> "InputSpec":
        if n is None:
            return self
        return InputSpec(
            tuple((n, *s[1:]) if s else s for s in self.shapes), self.dtypes, self.origin
        )

    def describe(self) -> str:
        return ", ".join(f"[{', '.join(map(str, s))}]" for s in self.shapes)

    def to_json(self) -> dict[str, Any]:
        return {"shapes": [list(s) for s in self.shapes], "dtypes": list(self.dtypes), "origin": self.origin}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "InputSpec":
        return cls(tuple(tuple(s) for s in d["shapes"]), tuple(d["dtypes"]), d["origin"])

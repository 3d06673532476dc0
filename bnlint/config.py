"""One run's settings: the object the CLI builds from its flags and the API
and the pytest plugin build from keyword arguments, so that all three share
the same defaults (which rules run, which files are imported, time limits),
and the ``[tool.bnlint]`` table of the nearest ``pyproject.toml`` that has one.
Torch-free.

Precedence: command-line flags, then the config file, then the defaults.
Unknown keys and bad values are a :class:`UsageError` (exit 2), never
ignored."""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from bnlint.findings import Severity, UsageError
from bnlint.inputs import InputSpec, parse_dtypes, parse_shape

DEFAULT_TIMEOUT = 60.0  # seconds per file to import, build and analyze its models
# A safe model fix is refused when max |fixed - original| / max |original| on
# the example inputs exceeds this (float32 folding of trained statistics is
# ~1e-6; a wrong fold is ~1e-1 or worse).
DEFAULT_TOLERANCE = 1e-4


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
    extend_select: tuple[str, ...] = ()  # added to select (or to the default set)
    fail_on: Severity = Severity.WARNING  # lowest severity that makes a run fail
    static: bool = False  # read every file as source only: nothing imported, no torch
    import_files: bool | None = None  # None: the import policy decides (bnlint.discover.policy)
    inputs: InputSpec | None = None  # example inputs for every model (--input-shape)
    batch_size: int | None = None  # overrides the inputs' first dimension
    timeout: float = DEFAULT_TIMEOUT
    exclude: tuple[str, ...] = ()  # path globs never checked (relative to `root`)
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (path glob, codes)
    per_module_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (module-path glob, codes)
    respect_gitignore: bool = True
    warn_unused_ignores: bool = False  # a suppression that suppresses nothing fails the run
    jobs: int | None = None  # files analyzed at once; None: the CPU count
    root: str | None = None  # the directory globs are relative to (the config file's); None: cwd
    source: str | None = None  # the config file read, if any

    def __post_init__(self) -> None:
        if self.static and self.import_files:
            raise UsageError("--static imports nothing: it cannot be combined with --import")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"batch size {self.batch_size}: expected a positive integer")
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"--jobs {self.jobs}: expected a positive integer")
        if self.timeout <= 0:
            raise UsageError(f"timeout {self.timeout:g}: expected a positive number of seconds")

    def rules(self):
        """The selected rule classes. Raises UsageError on a selector that
        matches no rule."""
        from bnlint.engine.registry import RegistryError, select_rules

        try:
            chosen = select_rules(self.select, self.ignore)
            if self.extend_select:
                extra = select_rules(self.extend_select, self.ignore)
                chosen += [r for r in extra if r not in chosen]
            for _, codes in (*self.per_file_ignores, *self.per_module_ignores):
                select_rules(codes)  # each code must name a rule
        except (ValueError, RegistryError) as exc:
            raise UsageError(f"{exc}{self._where()}") from None
        return sorted(chosen, key=lambda r: r.code)

    def _where(self) -> str:
        return f" (in {self.source})" if self.source else ""

    def _relative(self, path: str) -> str:
        rel = os.path.relpath(os.path.abspath(path), self.root or os.getcwd())
        return rel.replace(os.sep, "/")

    def is_excluded(self, path: str) -> bool:
        """A path matching an ``exclude`` glob: by its path relative to the
        root, or by any of its parts (``"legacy"``, ``"*_pb2.py"``)."""
        if not self.exclude:
            return False
        rel = self._relative(path)
        parts = rel.split("/")
        return any(
            fnmatch.fnmatch(rel, pat) or any(fnmatch.fnmatch(p, pat) for p in parts)
            or rel.startswith(pat.rstrip("/") + "/")
            for pat in self.exclude
        )

    def ignored_for(self, path: str | None, module: str | None) -> tuple[str, ...]:
        """The codes ``per-file-ignores`` and ``per-module-ignores`` drop for a
        finding at ``path`` in module ``module``."""
        codes: list[str] = []
        if path and self.per_file_ignores:
            rel = self._relative(path)
            name = rel.rsplit("/", 1)[-1]
            for pat, c in self.per_file_ignores:
                if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, pat):
                    codes.extend(c)
        if module is not None:
            for pat, c in self.per_module_ignores:
                if fnmatch.fnmatch(module, pat):
                    codes.extend(c)
        return tuple(codes)


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


# -- [tool.bnlint] ---------------------------------------------------------------
def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover -- Python 3.10
        import tomli as tomllib
    return tomllib


def find_config(start: str) -> str | None:
    """The nearest ``pyproject.toml`` with a ``[tool.bnlint]`` table, from
    ``start`` (a directory or a file) up to the filesystem root."""
    here = os.path.abspath(start)
    if not os.path.isdir(here):
        here = os.path.dirname(here)
    while True:
        candidate = os.path.join(here, "pyproject.toml")
        if os.path.isfile(candidate):
            try:
                with open(candidate, "rb") as fh:
                    raw = fh.read()
            except OSError:
                raw = b""
            if b"bnlint" in raw:
                try:
                    if "bnlint" in _toml().loads(raw.decode("utf-8", "replace")).get("tool", {}):
                        return candidate
                except ValueError as exc:  # ours to judge only when it mentions bnlint
                    raise UsageError(f"{candidate}: not valid TOML: {exc}") from None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def _strings(key: str, value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: `{key}` must be a list of strings")
    return split_codes(value) if key in _CODE_KEYS else tuple(value)


def _table(key: str, value: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise UsageError(f'{where}: `{key}` must be a table of glob = ["CODE", ...]')
    return tuple((str(k), _strings(key + "." + k, v, where)) for k, v in value.items())


_CODE_KEYS = {"select", "ignore", "extend-select"}
_KEYS = {
    "select", "ignore", "extend-select", "exclude", "extend-exclude", "per-file-ignores",
    "per-module-ignores", "fail-on", "input-shape", "dtype", "timeout", "respect-gitignore",
    "warn-unused-ignores",
}


def load_config(path: str) -> dict[str, Any]:
    """The settings of one config file's ``[tool.bnlint]`` table, as
    :class:`Config` keyword arguments. Raises UsageError."""
    try:
        with open(path, "rb") as fh:
            data = _toml().load(fh)
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("bnlint", {}) if os.path.basename(path) == "pyproject.toml" else data
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.bnlint] must be a table")
    where = f"{path} [tool.bnlint]" if os.path.basename(path) == "pyproject.toml" else path
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    out: dict[str, Any] = {"root": os.path.dirname(os.path.abspath(path)), "source": path}
    for key, value in table.items():
        attr = key.replace("-", "_")
        if key in ("select", "ignore", "extend-select"):
            out[attr] = _strings(key, value, where)
        elif key in ("exclude", "extend-exclude"):
            out.setdefault("exclude", ())
            out["exclude"] += _strings(key, value, where)
        elif key in ("per-file-ignores", "per-module-ignores"):
            out[attr] = _table(key, value, where)
        elif key == "fail-on":
            try:
                out["fail_on"] = Severity.parse(str(value))
            except ValueError as exc:
                raise UsageError(f"{where}: `fail-on`: {exc}") from None
        elif key in ("input-shape", "dtype"):
            out[attr] = _strings(key, value, where)
        elif key == "timeout":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise UsageError(f"{where}: `timeout` must be a positive number of seconds")
            out["timeout"] = float(value)
        elif key in ("respect-gitignore", "warn-unused-ignores"):
            if not isinstance(value, bool):
                raise UsageError(f"{where}: `{key}` must be true or false")
            out[attr] = value
    if "input_shape" in out or "dtype" in out:
        out["inputs"] = inputs_from_strings(out.pop("input_shape", None), out.pop("dtype", None))
    return out


def resolve(
    paths: Sequence[str],
    overrides: Mapping[str, Any],
    *,
    config_file: str | None = None,
    isolated: bool = False,
) -> Config:
    """The run's Config: the defaults, then the config file (``config_file``,
    else the nearest one above the first path, unless ``isolated``), then the
    ``overrides`` given on the command line (keys of :class:`Config`; None
    means "not given")."""
    settings: dict[str, Any] = {}
    if config_file and isolated:
        raise UsageError("--config and --isolated cannot be combined")
    path = config_file or (None if isolated else find_config(paths[0] if paths else "."))
    if path:
        settings.update(load_config(path))
    for key, value in overrides.items():
        if value is None:
            continue
        if key in ("exclude",) and settings.get(key):
            value = tuple(settings[key]) + tuple(value)  # --exclude extends the file's
        settings[key] = value
    return Config(**settings)

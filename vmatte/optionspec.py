"""How an option is declared and checked: a `Spec` per dataclass field, and the conversion of a raw
value (a command-line string, a preset's YAML value, a Python argument) into a checked one.

The option sets themselves are in `vmatte.options`. No torch here.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import VmatteError


@dataclass(frozen=True)
class Spec:
    """How one option is spelled, typed and bounded. `kind` is float, int, str, bool or 'path';
    `low`/`high` bound numbers (`open_low`: low itself is not allowed); `check` validates and
    normalises what the simple rules cannot say (a background spec, a sink)."""

    help: str
    kind: Any = str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    check: Callable[[Any], Any] | None = None
    flag: str | None = None  # the command line's spelling, when not --name-with-dashes
    short: str | None = None
    metavar: str | None = None
    cli: bool = True  # False: Python API only
    const: Any = None  # the value of a flag given without one (--ray alone)

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        lo = "" if self.low is None else f"{'>' if self.open_low else '>='} {self.low:g}"
        hi = "" if self.high is None else f"<= {self.high:g}"
        kind = {float: "a number", int: "a whole number"}.get(self.kind, "a value")
        return " and ".join(x for x in (f"{kind} {lo}".strip(), hi) if x)


def option(default: Any, help: str, **spec: Any) -> Any:
    """A dataclass field carrying its Spec."""
    return field(default=default, metadata={"spec": Spec(help, **spec)})


def spec_of(f) -> Spec:
    return f.metadata["spec"]


def flag_of(name: str, spec: Spec) -> str:
    return spec.flag or "--" + name.replace("_", "-")


def number(value: Any, kind: type, name: str, spec: Spec) -> float | int:
    """`value` as a finite float or an int, within the spec's bounds."""
    flag = flag_of(name, spec)
    v: float | int | None = None
    if isinstance(value, bool):
        pass
    elif kind is int:
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            v = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            v = int(value)
    else:
        try:
            v = float(value)
        except (TypeError, ValueError):
            pass
    if v is None or not math.isfinite(v):
        raise VmatteError(f"{flag}: {value!r} is not {spec.allowed()}")
    too_low = spec.low is not None and (v <= spec.low if spec.open_low else v < spec.low)
    if too_low or (spec.high is not None and v > spec.high):
        raise VmatteError(f"{flag}: {value!r} is out of range; give {spec.allowed()}")
    return v


def convert_value(name: str, spec: Spec, value: Any) -> Any:
    """One option's value, typed and checked (None passes for options without a value)."""
    if value is None:
        return None
    flag = flag_of(name, spec)
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise VmatteError(f"{flag}: {value!r} is not true or false")
    if spec.kind in (float, int):
        return number(value, spec.kind, name, spec)
    if spec.kind in (str, "path") and not isinstance(value, str):
        if spec.kind == "path" and hasattr(value, "__fspath__"):
            value = str(value.__fspath__())
        else:
            raise VmatteError(f"{flag}: expected text, got {type(value).__name__} {value!r}; quote it in a preset")
    if spec.choices is not None:
        text = str(value)
        if text not in spec.choices:
            raise VmatteError(f"{flag}: {value!r} is not {spec.allowed()}")
        return spec.kind(text) if spec.kind in (int, float) else text
    if spec.kind == "path" and not str(value).strip():
        raise VmatteError(f"{flag}: an empty path; give a file name")
    return spec.check(value) if spec.check else value


def reject_unknown(options: dict[str, Any], *allowed: Any, what: str = "") -> None:
    """One line naming keyword options that none of `allowed` (option classes or sets of names) owns."""
    known = set().union(*(a.names() if isinstance(a, type) else set(a) for a in allowed))
    unknown = sorted(set(options) - known)
    if unknown:
        raise VmatteError(f"unknown option(s) {', '.join(unknown)}{what}; see vmatte.options for the list")


class Checked:
    """Base of the option dataclasses: every field is converted and checked on construction."""

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, convert_value(f.name, spec_of(f), getattr(self, f.name)))

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @classmethod
    def pick(cls, values: dict[str, Any]):
        """An instance from the keys of `values` this class owns (the rest are ignored)."""
        return cls(**{k: v for k, v in values.items() if k in cls.names()})

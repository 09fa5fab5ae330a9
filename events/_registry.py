"""Where each event type is declared once: its fields, its version and its upcasters."""

from __future__ import annotations

import dataclasses
from typing import Any
from collections.abc import Callable

from ._errors import UnknownFieldError, ValidationError

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# Python types accepted for each field kind; msgpack gives back these.
_KINDS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "bytes": (bytes,),
    "list": (list, tuple),
    "map": (dict,),
    "any": (object,),
}


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    kind: str
    required: bool = True


@dataclasses.dataclass
class EventType:
    """A declared event or command type at its current version."""

    name: str
    aggregate: str
    version: int
    fields: dict[str, Field]
    doc: str = ""
    upcasters: dict[int, Upcaster] = dataclasses.field(default_factory=dict)

    def validate(self, data: dict[str, Any]) -> None:
        if not data.keys() <= self.fields.keys():
            key = next(k for k in data if k not in self.fields)
            raise UnknownFieldError(
                f"event type '{self.name}' v{self.version} has no field '{key}' "
                f"(declared: {', '.join(sorted(self.fields)) or 'none'})")
        for field in self.fields.values():
            value = data.get(field.name)
            if value is None:
                if field.required:
                    raise ValidationError(f"event type '{self.name}' needs field '{field.name}'")
                continue
            if not isinstance(value, _KINDS[field.kind]) or (
                    isinstance(value, bool) and field.kind in ("int", "float")):
                raise ValidationError(
                    f"event type '{self.name}' field '{field.name}' is {type(value).__name__}, "
                    f"expected {field.kind}")

    def upcast(self, version: int, data: dict[str, Any]) -> dict[str, Any]:
        """Run the chain vN→vN+1→…→current on an older payload."""
        while version < self.version:
            step = self.upcasters.get(version)
            if step is None:
                raise ValidationError(
                    f"event type '{self.name}' has no upcaster from v{version} to v{version + 1}")
            data = step(dict(data))
            version += 1
        return data


_TYPES: dict[str, EventType] = {}


def _parse_field(spec: str) -> Field:
    # "name:kind" with a trailing "?" for optional, e.g. "tags:list?"
    name, _, kind = spec.partition(":")
    required = not kind.endswith("?")
    kind = kind.rstrip("?") or "any"
    if kind not in _KINDS:
        raise ValueError(f"field '{name}' has unknown kind '{kind}' (known: {', '.join(_KINDS)})")
    return Field(name, kind, required)


def declare(name: str, aggregate: str, fields: list[str], *, version: int = 1, doc: str = "") -> EventType:
    """Declare a type once. `fields` are "name:kind" strings, "?" marks optional."""
    if name in _TYPES:
        raise ValueError(f"event type '{name}' declared twice")
    parsed = {f.name: f for f in map(_parse_field, fields)}
    declared = EventType(name, aggregate, version, parsed, doc)
    _TYPES[name] = declared
    return declared


def upcaster(name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register the step that turns `name` v`from_version` data into v`from_version+1`."""
    def register(fn: Upcaster) -> Upcaster:
        _TYPES[name].upcasters[from_version] = fn
        return fn
    return register


def get_type(name: str) -> EventType | None:
    return _TYPES.get(name)


def known_types() -> list[str]:
    return sorted(_TYPES)

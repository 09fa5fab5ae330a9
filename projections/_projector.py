"""What a projector is: a name, the subjects it reads, its tables and its folds.

    class Nodes(Projector):
        name = "nodes"
        subjects = ("zos.evt.node.*",)
        tables = ("nodes",)

        @handles("node.booted")
        def booted(self, rows: Rows, event: Event, seq: int) -> None:
            rows.merge("nodes", {"id": event.aggregate_id, ...})

A fold reads and writes rows only through `rows` (no I/O of its own), so the same fold runs
on `MemoryRows` in a unit test and on `SqlRows` in the runner. Projector modules live in
`zos.projections.projectors` and are discovered: adding one is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import ClassVar
from collections.abc import Callable

from zos.events import Event

from ._errors import UnknownProjector
from ._rows import Rows

Fold = Callable[["Projector", Rows, Event, int], None]


def handles(*types: str) -> Callable[[Fold], Fold]:
    """Mark a method as the fold of these event types."""
    def mark(fn: Fold) -> Fold:
        fn.__zos_handles__ = types  # type: ignore[attr-defined]
        return fn
    return mark


def _subject_regex(pattern: str) -> str:
    """The regular expression of a NATS subject filter (compiled once per projector)."""
    parts = []
    for token in pattern.split("."):
        parts.append(r"[^.]+" if token == "*" else r".+" if token == ">" else re.escape(token))
    return r"\.".join(parts)


class Projector:
    """Base class; subclasses set `name`, `subjects`, `tables` and mark folds with `@handles`."""

    name: ClassVar[str] = ""
    stream: ClassVar[str] = "ZOS_EVENTS"
    subjects: ClassVar[tuple[str, ...]] = ()
    tables: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.folds: dict[str, Callable[[Rows, Event, int], None]] = {}
        for attr in dir(type(self)):
            fn = getattr(type(self), attr)
            for type_name in getattr(fn, "__zos_handles__", ()):
                self.folds[type_name] = getattr(self, attr)
        self._pattern = re.compile("|".join(_subject_regex(p) for p in self.subjects) or "(?!)")

    @property
    def types(self) -> list[str]:
        return sorted(self.folds)

    def wants(self, subject: str) -> bool:
        return self._pattern.fullmatch(subject) is not None

    def apply(self, rows: Rows, event: Event, seq: int) -> bool:
        """Fold one event; False when this projector has no fold for its type."""
        fold = self.folds.get(event.type)
        if fold is None:
            return False
        fold(rows, event, seq)
        return True


def all_projectors() -> list[Projector]:
    """One instance of every projector class found in `zos.projections.projectors`."""
    from . import projectors

    found: list[Projector] = []
    for info in sorted(pkgutil.iter_modules(projectors.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{projectors.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Projector) and value is not Projector \
                    and value.__module__ == module.__name__ and value.name:
                found.append(value())
    return sorted(found, key=lambda p: p.name)


def select_projectors(names: list[str] | None = None) -> list[Projector]:
    known = all_projectors()
    if not names:
        return known
    by_name = {p.name: p for p in known}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise UnknownProjector(missing[0], sorted(by_name))
    return [by_name[n] for n in names]

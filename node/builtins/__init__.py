"""The builtin command catalogue (spec core0-protocol §12).

Each module here registers its builtins with `@builtin(name)`; `load_all()` imports every
module of this package, so a family of builtins is added by adding a module.
"""

import importlib
import pkgutil

from ._registry import BUILTINS, Builtin, BuiltinError, Context, arg, builtin


def load_all() -> dict[str, Builtin]:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return BUILTINS


__all__ = ["BUILTINS", "Builtin", "BuiltinError", "Context", "arg", "builtin", "load_all"]

"""The builtin command catalogue (spec core0-protocol §12).

Each module here registers its builtins with `@builtin(name)`; `load_all()` imports every
module of this package, so a family of builtins is added by adding a module.

A builtin that returns a `ProcessSpec` (argv, cwd, env, stdin) makes the job a process job:
the agent runs it and the result is a process result (streams, 1000+exit, 999, 404).
"""

import importlib
import logging
import pkgutil

from .._process import ProcessSpec
from ._registry import BUILTINS, SERVICES, Builtin, BuiltinError, Context, arg, builtin, service


def load_all() -> dict[str, Builtin]:
    """Import every builtin module. A module that fails to import is logged with its traceback
    and left out (its commands answer UNKNOWN_CMD); the agent still serves the others."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            try:
                importlib.import_module(f"{__name__}.{info.name}")
            except Exception:
                logging.getLogger("zos.node").exception("builtin module %s not loaded", info.name)
    return BUILTINS


__all__ = ["BUILTINS", "SERVICES", "Builtin", "BuiltinError", "Context", "ProcessSpec", "arg", "builtin",
           "load_all", "service"]

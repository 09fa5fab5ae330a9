"""Every event and command type, declared once, grouped by the part that emits it.

Importing this package declares them all; add a module per part and import it here.
"""

from . import command, node  # noqa: F401

"""Every event and command type, declared once, grouped by the part that emits it.

Importing this package declares them all; add a module per part and import it here.
"""

from . import command, node  # noqa: F401
from . import disk  # noqa: F401
from . import hub  # noqa: F401
from . import fs  # noqa: F401
from . import network  # noqa: F401
from . import node_disks  # noqa: F401
from . import storagepool  # noqa: F401
from . import vm  # noqa: F401

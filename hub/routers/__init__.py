"""The hub's routes, one module per area; each defines `router` (a FastAPI APIRouter).

`ORDER` is the order `create_app` includes them in, and it matters: the download routes match
any two-segment path, so they come last; `/api/flist/me/...` comes before `/api/flist/{user}/...`.
"""

from . import chunks, downloads, mine, public, ui, uploads

ORDER = (chunks, uploads, mine, public, ui, downloads)

__all__ = ["ORDER"]

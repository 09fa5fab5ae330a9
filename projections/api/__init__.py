"""The resource-pool REST API (0-orchestrator conventions) over the projections and the bus.

Reads come from the projection tables; direct reads and writes are commands to nodes whose
`job.finished` the API waits for, then it waits for the projection to apply that event
(read-your-writes). One router module per resource in `routers/`, discovered.
"""

from ._app import create_app
from ._auth import TokenError, check_token, mint_token
from ._config import ApiConfig
from ._errors import ApiError

__all__ = ["ApiConfig", "ApiError", "TokenError", "check_token", "create_app", "mint_token"]

"""One module per resource; each defines `router` (a FastAPI APIRouter) and is discovered."""

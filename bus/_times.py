"""Reading the times users give to replay filters (CLI flags, API query parameters)."""

from __future__ import annotations

import datetime as dt
import re

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str) -> dt.datetime:
    """ISO 8601 (`2026-11-26T10:00:00Z`) or an age relative to now (`90s`, `10m`, `2h`, `1d`).

    Raises ValueError naming the text when it is neither.
    """
    found = _RELATIVE.match(text)
    if found:
        return dt.datetime.now(dt.UTC) - dt.timedelta(
            seconds=float(found.group(1)) * _UNITS[found.group(2)])
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"time '{text}' is neither ISO 8601 nor a relative age like 10m") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

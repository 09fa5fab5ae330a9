"""The /init script: a template of the spec filled in with the image's values."""

from __future__ import annotations

import re

from ._errors import SpecError


def _shell_word(word: str) -> str:
    """Double-quoted so `$VARS` from /run/zos/agent.env expand, and nothing else does."""
    return '"' + re.sub(r'(["\\`])', r"\\\1", word) + '"'


def render_init(template: str, *, name: str, hostname: str, modules: list[str], agent: tuple[str, ...],
                restart_delay: int) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}", hostname):
        raise SpecError(f"'image.hostname' has value {hostname!r}. Expected a host name (letters, digits, -, .).")
    if not agent:
        raise SpecError("'init.agent' is empty: the image needs a command to run")
    values = {"IMAGE": name, "HOSTNAME": hostname, "MODULES": " ".join(modules),
              "AGENT": " ".join(_shell_word(word) for word in agent), "RESTART_DELAY": str(restart_delay)}

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise SpecError(f"init script has an unknown placeholder @{key}@ (known: {', '.join(sorted(values))})")
        return values[key]
    return re.sub(r"@([A-Z_]+)@", fill, template).encode()

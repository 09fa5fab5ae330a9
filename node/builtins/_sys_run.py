"""Running the system tools the SYSTEM builtins drive (nft, parted, mount, dnsmasq, sysctl),
optionally inside a named network namespace, with failures turned into `BuiltinError`."""

from __future__ import annotations

import shutil
import subprocess

from ._registry import BuiltinError

TOOL_TIMEOUT = 120.0


def require_tool(name: str) -> str:
    """The path of a binary the builtin needs; 503 (unavailable) when the machine lacks it."""
    path = shutil.which(name)
    if path is None:
        raise BuiltinError(503, f"'{name}' is not installed on this node")
    return path


def in_namespace(namespace: str | None, argv: list[str]) -> list[str]:
    """`argv` as run inside the network namespace (`ip netns exec`), or as is on the host."""
    if namespace is None:
        return argv
    return [require_tool("ip"), "netns", "exec", namespace, *argv]


def run_tool(argv: list[str], namespace: str | None = None, stdin: str | None = None,
             code: int = 500) -> str:
    """Run a tool to completion and return its stdout; a non-zero exit is a `BuiltinError`
    with `code` carrying the tool's own message (its stderr), so the caller sees why."""
    tool = argv[0]
    argv = in_namespace(namespace, [require_tool(tool), *argv[1:]])
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BuiltinError(500, f"'{' '.join(argv)}' did not finish within {TOOL_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise BuiltinError(code, f"{tool}: {message}")
    return done.stdout

"""The DHCP server of a `dnsmasq`-mode bridge: one dnsmasq per bridge, bound only to that
bridge (inside the bridge's namespace), with its pid, lease and static-host files in the
bridge's runtime directory so that a restarted agent still finds and stops it."""

from __future__ import annotations

import ipaddress
import os
import signal
import time
from pathlib import Path

from ._registry import BuiltinError
from ._sys_run import require_tool, run_tool

STOP_TIMEOUT = 10.0


def start(run_dir: Path, bridge: str, address: ipaddress.IPv4Interface | ipaddress.IPv6Interface,
          start: str, end: str, namespace: str | None) -> None:
    """Start dnsmasq for `bridge` (it daemonizes; its pid is in run_dir/dnsmasq.pid)."""
    require_tool("dnsmasq")
    hosts = run_dir / "hosts"
    hosts.touch()
    mask = address.network.netmask if address.version == 4 else address.network.prefixlen
    run_tool(["dnsmasq", "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--user=root",
              f"--pid-file={run_dir / 'dnsmasq.pid'}", f"--dhcp-leasefile={run_dir / 'leases'}",
              f"--dhcp-hostsfile={hosts}", f"--interface={bridge}", "--except-interface=lo",
              "--bind-interfaces", f"--listen-address={address.ip}",
              f"--dhcp-range={start},{end},{mask},12h", f"--dhcp-option=3,{address.ip}",
              f"--dhcp-option=6,{address.ip}"], namespace)


def pid(run_dir: Path) -> int | None:
    """The pid of the bridge's dnsmasq if it is still running (and still dnsmasq)."""
    try:
        number = int((run_dir / "dnsmasq.pid").read_text().strip())
        comm = Path(f"/proc/{number}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return number if comm == "dnsmasq" else None


def stop(run_dir: Path) -> None:
    """Stop the bridge's dnsmasq and wait until it is gone."""
    number = pid(run_dir)
    if number is None:
        return
    os.kill(number, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid(run_dir) == number:
        if time.monotonic() > deadline:
            os.kill(number, signal.SIGKILL)
            break
        time.sleep(0.05)


def add_host(run_dir: Path, mac: str, ip: str) -> None:
    """Add (or replace) the static lease of `mac` and make dnsmasq re-read its hosts file."""
    number = pid(run_dir)
    if number is None:
        raise BuiltinError(412, "the bridge's dnsmasq is not running")
    hosts = run_dir / "hosts"
    lines = []
    for line in hosts.read_text().splitlines():
        old_mac, _, old_ip = line.partition(",")
        if line and old_mac != mac and old_ip != ip:
            lines.append(line)
    lines.append(f"{mac},{ip}")
    tmp = hosts.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(hosts)
    os.kill(number, signal.SIGHUP)

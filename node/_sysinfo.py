"""What the node is made of, in gopsutil's JSON field names (spec §12.2). Blocking: run in a thread."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil


_REPO = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def version() -> dict[str, Any]:
    """`{branch, revision, dirty}` of the code that runs (git when available)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(_REPO), *args], capture_output=True, text=True,
                                  timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    revision = git("rev-parse", "--short=12", "HEAD")
    return {"branch": git("rev-parse", "--abbrev-ref", "HEAD") or "unknown",
            "revision": revision or "unknown",
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if revision else False}


def version_text() -> str:
    info = version()
    return f"Version: {info['branch']} @Revision: {info['revision']}" + (" (dirty-repo)" if info["dirty"] else "")


def cpu_info() -> list[dict[str, Any]]:
    cpus: list[dict[str, Any]] = []
    block: dict[str, str] = {}
    text = Path("/proc/cpuinfo").read_text()
    for line in [*text.splitlines(), ""]:
        if line.strip():
            key, _, value = line.partition(":")
            block[key.strip()] = value.strip()
            continue
        if not block:
            continue
        cpus.append({
            "cpu": int(block.get("processor", len(cpus))),
            "vendorId": block.get("vendor_id", ""),
            "family": block.get("cpu family", ""),
            "model": block.get("model", ""),
            "stepping": _int(block.get("stepping")),
            "physicalId": block.get("physical id", ""),
            "coreId": block.get("core id", ""),
            "cores": _int(block.get("cpu cores")),
            "modelName": block.get("model name", ""),
            "mhz": float(block.get("cpu MHz", "0") or 0),
            "cacheSize": _int(block.get("cache size", "0").split(" ")[0]),
            "flags": block.get("flags", "").split(),
            "microcode": block.get("microcode", ""),
        })
        block = {}
    return cpus


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _meminfo() -> dict[str, int]:
    values = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return values


def mem_info() -> dict[str, Any]:
    vm = psutil.virtual_memory()
    raw = _meminfo()
    return {"total": vm.total, "available": vm.available, "used": vm.used,
            "usedPercent": float(vm.percent), "free": vm.free, "active": getattr(vm, "active", 0),
            "inactive": getattr(vm, "inactive", 0), "wired": 0, "buffers": getattr(vm, "buffers", 0),
            "cached": getattr(vm, "cached", 0), "writeback": raw.get("Writeback", 0),
            "dirty": raw.get("Dirty", 0), "writebacktmp": raw.get("WritebackTmp", 0),
            "shared": getattr(vm, "shared", 0), "slab": raw.get("Slab", 0),
            "pagetables": raw.get("PageTables", 0), "swapcached": raw.get("SwapCached", 0)}


def disk_info() -> list[dict[str, Any]]:
    return [{"device": p.device, "mountpoint": p.mountpoint, "fstype": p.fstype, "opts": p.opts}
            for p in psutil.disk_partitions(all=True)]


def nic_info() -> list[dict[str, Any]]:
    stats = psutil.net_if_stats()
    nics = []
    for name, addrs in sorted(psutil.net_if_addrs().items()):
        stat = stats.get(name)
        hwaddr = next((a.address for a in addrs if a.family == psutil.AF_LINK), "")
        cidrs = []
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6) and a.netmask:
                address = a.address.split("%")[0]
                prefix = _prefix(a.netmask)
                cidrs.append({"addr": f"{address}/{prefix}"})
        flags = [f for f in (stat.flags.split(",") if stat and getattr(stat, "flags", "") else []) if f]
        if stat and stat.isup and "up" not in flags:
            flags.insert(0, "up")
        nics.append({"mtu": stat.mtu if stat else 0, "name": name, "hardwareaddr": hwaddr,
                     "flags": flags, "addrs": cidrs, "speed": stat.speed if stat else 0})
    return nics


def _prefix(netmask: str) -> int:
    if ":" in netmask:
        return sum(bin(int(part or "0", 16)).count("1") for part in netmask.split(":"))
    return sum(bin(int(part)).count("1") for part in netmask.split("."))


def _os_release() -> dict[str, str]:
    values = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            key, _, value = line.partition("=")
            values[key] = value.strip().strip('"')
    except OSError:
        pass
    return values


def os_info() -> dict[str, Any]:
    release = _os_release()
    boot = int(psutil.boot_time())
    try:
        hostid = Path("/etc/machine-id").read_text().strip()
    except OSError:
        hostid = ""
    return {"hostname": socket.gethostname(), "uptime": int(time.time()) - boot, "bootTime": boot,
            "procs": len(psutil.pids()), "os": platform.system().lower(),
            "platform": release.get("ID", ""), "platformFamily": release.get("ID_LIKE", release.get("ID", "")),
            "platformVersion": release.get("VERSION_ID", ""), "kernelVersion": platform.release(),
            "virtualizationSystem": "", "virtualizationRole": "", "hostid": hostid}


def port_info() -> list[dict[str, Any]]:
    ports = []
    for conn in psutil.net_connections(kind="all"):
        if conn.family == socket.AF_UNIX:
            if conn.status != psutil.CONN_LISTEN and conn.type == socket.SOCK_STREAM:
                continue
            ports.append({"network": "unix", "port": 0, "unix": conn.laddr or "", "ip": "",
                          "pid": conn.pid or 0})
            continue
        udp = conn.type == socket.SOCK_DGRAM
        if not udp and conn.status != psutil.CONN_LISTEN:
            continue
        if udp and conn.raddr:
            continue
        network = ("udp" if udp else "tcp") + ("6" if conn.family == socket.AF_INET6 else "")
        ports.append({"network": network, "port": conn.laddr.port, "unix": "", "ip": conn.laddr.ip,
                      "pid": conn.pid or 0})
    return ports


def block_disks() -> list[str]:
    try:
        return sorted(d for d in os.listdir("/sys/block") if not d.startswith(("loop", "ram", "zram")))
    except OSError:
        return []


def boot_facts() -> dict[str, Any]:
    """The hardware summary of `node.booted`."""
    return {"hostname": socket.gethostname(), "kernel": platform.release(),
            "cpus": psutil.cpu_count() or 0, "memory": psutil.virtual_memory().total,
            "disks": block_disks(), "nics": sorted(psutil.net_if_addrs())}

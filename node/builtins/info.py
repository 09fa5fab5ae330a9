"""info.cpu|mem|disk|nic|os|port|version (spec §12.2): gopsutil's JSON field names."""

from __future__ import annotations

from typing import Any

from .. import _sysinfo
from ._registry import Context, builtin


@builtin("info.cpu")
def cpu(args: dict, ctx: Context) -> list[dict[str, Any]]:
    return _sysinfo.cpu_info()


@builtin("info.mem")
def mem(args: dict, ctx: Context) -> dict[str, Any]:
    return _sysinfo.mem_info()


@builtin("info.disk")
def disk(args: dict, ctx: Context) -> list[dict[str, Any]]:
    return _sysinfo.disk_info()


@builtin("info.nic")
def nic(args: dict, ctx: Context) -> list[dict[str, Any]]:
    return _sysinfo.nic_info()


@builtin("info.os")
def os_(args: dict, ctx: Context) -> dict[str, Any]:
    return _sysinfo.os_info()


@builtin("info.port")
def port(args: dict, ctx: Context) -> list[dict[str, Any]]:
    return _sysinfo.port_info()


@builtin("info.version")
def version(args: dict, ctx: Context) -> dict[str, Any]:
    return _sysinfo.version()

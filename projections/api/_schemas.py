"""Request and response bodies with the upstream (0-orchestrator) JSON field names.

The response types of routes that `raml/types.raml` declares follow it (issue 12 §5): what the
orchestrator's generated client (`pyclient/zeroos/orchestrator/client/<Type>.py`) requires is
present and of the RAML type. `tests/projections/test_raml_contract.py` checks the answers.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator


class Node(BaseModel):
    id: str
    hostname: str
    status: Literal["running", "halted"]
    ipaddress: str
    version: str


class JobListItem(BaseModel):
    id: str
    startTime: int
    name: str
    state: str


class JobResult(BaseModel):
    id: str
    name: str
    level: int
    startTime: int
    stdout: str
    stderr: str
    state: str
    data: str


class CPUStats(BaseModel):
    """RAML `CPUStats` (types.raml:270). The node reports psutil/0-core names (`guestnice`,
    `iowait`, `softirq`, spec core0-protocol §12.1); the RAML and its generated client want
    camelCase, so both spellings are read and only the RAML one is written. Times a node does
    not report are 0.0: the generated client requires all ten."""

    guestNice: float = Field(0.0, validation_alias=AliasChoices("guestNice", "guestnice"))
    idle: float = 0.0
    ioWait: float = Field(0.0, validation_alias=AliasChoices("ioWait", "iowait"))
    irq: float = 0.0
    nice: float = 0.0
    softIrq: float = Field(0.0, validation_alias=AliasChoices("softIrq", "softirq"))
    steal: float = 0.0
    stolen: float = 0.0
    system: float = 0.0
    user: float = 0.0


class Process(BaseModel):
    """RAML `Process` (types.raml:312); the node's other fields (ppid, name, ...) pass through."""

    model_config = ConfigDict(extra="allow")
    cmdline: str
    cpu: CPUStats = Field(default_factory=CPUStats)
    pid: int
    rss: int = 0
    swap: int = 0
    vms: int = 0

    @field_validator("cpu", mode="before")
    @classmethod
    def _no_cpu(cls, value: Any) -> Any:
        """`cpu: null` from a node still answers a CPUStats: the generated client requires one."""
        return {} if value is None else value


class CPUInfo(BaseModel):
    """RAML `CPUInfo` (types.raml:15)."""

    cacheSize: int
    cores: int
    family: str
    flags: list[str]
    mhz: float


class MemInfo(BaseModel):
    """RAML `MemInfo` (types.raml:63), bytes."""

    active: int
    available: int
    buffers: int
    cached: int
    free: int
    inactive: int
    total: int
    used: int
    usedPercent: float
    wired: int


class OSInfo(BaseModel):
    """RAML `OSInfo` (types.raml:78)."""

    bootTime: int
    hostname: str
    os: str
    platform: str
    platformFamily: str
    platformVersion: str
    procs: int
    uptime: int
    virtualizationRole: str
    virtualizationSystem: str


class NicInfo(BaseModel):
    """RAML `NicInfo` (types.raml:107): `addrs` are CIDR strings."""

    addrs: list[str]
    flags: list[str]
    hardwareaddr: str
    mtu: int
    name: str


class DiskPartition(BaseModel):
    """RAML `DiskPartition` (types.raml:138): `name` is the /dev path, `size` whole GiB."""

    name: str
    size: int
    partuuid: str
    label: str
    fstype: str


class DiskInfo(BaseModel):
    """RAML `DiskInfo` (types.raml:121): `device` is the /dev path, `size` whole GiB."""

    device: str
    size: int
    type: Literal["ssd", "nvme", "hdd", "archive"]
    partitions: list[DiskPartition]


class NodeMount(BaseModel):
    """RAML `NodeMount` (types.raml:158)."""

    mountpoint: str
    device: str
    opts: str
    fstype: str


class CoreStateResult(BaseModel):
    cpu: float
    rss: int
    vms: int
    swap: int


class BridgeSetting(BaseModel):
    cidr: str = ""
    start: str = ""
    end: str = ""


class BridgeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=15, pattern=r"^[A-Za-z0-9_.-]+$")
    hwaddr: str | None = Field(default=None, pattern=r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
    networkMode: Literal["none", "static", "dnsmasq"] = "none"
    nat: bool = False
    setting: BridgeSetting = Field(default_factory=BridgeSetting)

    @model_validator(mode="after")
    def _network(self) -> BridgeCreate:
        if self.name == "default":
            raise ValueError("name 'default' is reserved")
        if self.networkMode == "none":
            return self
        try:
            net = ipaddress.ip_interface(self.setting.cidr).network
        except ValueError:
            raise ValueError(f"setting.cidr '{self.setting.cidr}' is not a CIDR") from None
        if self.networkMode == "dnsmasq":
            for key in ("start", "end"):
                value = getattr(self.setting, key)
                try:
                    inside = ipaddress.ip_address(value) in net
                except ValueError:
                    raise ValueError(f"setting.{key} '{value}' is not an IP address") from None
                if not inside:
                    raise ValueError(f"setting.{key} {value} is outside {net}")
            if ipaddress.ip_address(self.setting.start) > ipaddress.ip_address(self.setting.end):
                raise ValueError("setting.start is after setting.end")
        return self


class Bridge(BaseModel):
    name: str
    hwaddr: str
    networkMode: str
    nat: bool
    setting: BridgeSetting
    status: Literal["up", "down"]


class Error(BaseModel):
    error: str
    code: str
    details: Any = None


class EventPage(BaseModel):
    events: list[dict[str, Any]]
    next: int | None = Field(description="from_seq of the next page; null at the end of the log")


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error} for code in (400, 401, 404, 409, 500, 501, 503, 504)}

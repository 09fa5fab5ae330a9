"""Request and response bodies with the upstream (0-orchestrator) JSON field names."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class Process(BaseModel):
    model_config = ConfigDict(extra="allow")
    cmdline: str
    cpu: Any = None
    pid: int
    rss: int = 0
    swap: int = 0
    vms: int = 0


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

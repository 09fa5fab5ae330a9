"""`/nodes/{nodeid}/vms` (orchestrator RAML `api.raml` /vms, types `VMListItem`, `VM`,
`VMCreate`, `VMInfo`, `VMMigrate`): reads from the vms projection, writes as `kvm.*` commands
to the node with read-your-writes (the call returns once the projection applied the job's
events).

A VM's `id` in the API is the name given at creation (unique per node); the node knows it by
uuid. `VDiskLink` gains `url` (an nbd URL of `zos disk serve`, or a local file): the
orchestrator's `vdiskid` alone does not say which disk server exports it. `VMCreate` gains
`kernel`, `initrd`, `cmdline` and `accel` for direct kernel boot.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from ..._models import metadata
from .._context import ApiContext, context
from .._errors import ApiError
from .._schemas import ERRORS

router = APIRouter(tags=["vms"], responses=ERRORS)
VMS = metadata.tables["vms"]
Status = Literal["deploying", "running", "halted", "paused", "halting", "migrating", "starting", "error",
                 "networkKilled"]
MIB = 1 << 20


class VDiskLink(BaseModel):
    vdiskid: str
    maxIOps: int = 0
    url: str | None = None


class NicLink(BaseModel):
    id: str | None = None
    type: Literal["vlan", "vxlan", "default", "bridge"]
    macaddress: str | None = None


class VMListItem(BaseModel):
    id: str
    status: Status


class VM(VMListItem):
    vnc: int = -1
    memory: int
    cpu: int
    nics: list[NicLink] = Field(default_factory=list)
    disks: list[VDiskLink] = Field(default_factory=list)


class VMCreate(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@:+-]+$")
    memory: int = Field(ge=1, description="MiB")
    cpu: int = Field(ge=1)
    nics: list[NicLink] = Field(default_factory=list)
    disks: list[VDiskLink] = Field(default_factory=list)
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    accel: Literal["kvm", "tcg", "auto"] | None = None


class VMMigrate(BaseModel):
    nodeid: str = Field(min_length=1)


class VMDiskInfo(BaseModel):
    readIops: int
    writeIops: int
    readThroughput: int
    writeThroughput: int


class VMNicInfo(BaseModel):
    receivedPackets: int
    transmittedPackets: int
    receivedThroughput: int
    transmittedThroughput: int


class VMInfo(BaseModel):
    disks: list[VMDiskInfo]
    nics: list[VMNicInfo]
    cpu: list[float]


def _all(engine: Engine, query: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


async def _row(ctx: ApiContext, nodeid: str, vmid: str) -> dict[str, Any]:
    rows = await ctx.read(_all, sa.select(VMS).where(VMS.c.node == nodeid, VMS.c.name == vmid))
    if not rows:
        raise ApiError(404, f"vm '{vmid}' not found on node '{nodeid}'")
    return rows[0]


def _disk(medium: dict[str, Any]) -> dict[str, Any]:
    url = medium.get("url", "")
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return {"vdiskid": name, "maxIOps": 0, "url": url}


def _nic(nic: dict[str, Any]) -> dict[str, Any]:
    return {"id": nic.get("id") or None, "type": nic.get("type", "default"), "macaddress": nic.get("hwaddr")}


@router.get("/nodes/{nodeid}/vms", response_model=list[VMListItem], summary="ListVMs")
async def list_vms(nodeid: str, ctx: ApiContext = Depends(context)) -> list[dict[str, Any]]:
    rows = await ctx.read(_all, sa.select(VMS).where(VMS.c.node == nodeid).order_by(VMS.c.name))
    return [{"id": r["name"], "status": r["status"]} for r in rows]


@router.get("/nodes/{nodeid}/vms/{vmid}", response_model=VM, summary="GetVM")
async def get_vm(nodeid: str, vmid: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    row = await _row(ctx, nodeid, vmid)
    return {"id": row["name"], "status": row["status"], "vnc": -1, "memory": row["memory"],
            "cpu": row["cpu"], "nics": [_nic(n) for n in row["nics"] or []],
            "disks": [_disk(m) for m in row["media"] or []]}


@router.post("/nodes/{nodeid}/vms", status_code=202, response_class=Response, summary="CreateVM",
             responses={202: {"description": "created; Location names it"}})
async def create_vm(nodeid: str, body: VMCreate, ctx: ApiContext = Depends(context)) -> Response:
    media = []
    for i, link in enumerate(body.disks):
        if not link.url:
            raise ApiError(400, f"field 'disks[{i}].url' is required: the nbd URL of vdisk "
                                f"'{link.vdiskid}' (which disk server exports it is not known here)")
        media.append({"url": link.url})
    arguments: dict[str, Any] = {"name": body.id, "cpu": body.cpu, "memory": body.memory, "media": media,
                                 "nics": [{"type": n.type, "id": n.id or "", "hwaddr": n.macaddress or ""}
                                          for n in body.nics]}
    for field in ("kernel", "initrd", "cmdline", "accel"):
        if getattr(body, field):
            arguments[field] = getattr(body, field)
    outcome = await ctx.command(nodeid, "kvm.create", arguments, projectors=["vms"])
    uuid = outcome.value
    for i, link in enumerate(body.disks):
        if link.maxIOps:
            await ctx.command(nodeid, "kvm.limit_disk_io", {"uuid": uuid, "media": media[i],
                                                           "iops": link.maxIOps}, projectors=["vms"])
    return Response(status_code=202, headers={"Location": f"/nodes/{nodeid}/vms/{body.id}"})


@router.delete("/nodes/{nodeid}/vms/{vmid}", status_code=204, response_class=Response, summary="DeleteVM")
async def delete_vm(nodeid: str, vmid: str, ctx: ApiContext = Depends(context)) -> Response:
    row = await _row(ctx, nodeid, vmid)
    await ctx.command(nodeid, "kvm.destroy", {"uuid": row["uuid"]}, projectors=["vms"])
    return Response(status_code=204)


@router.get("/nodes/{nodeid}/vms/{vmid}/info", response_model=VMInfo, summary="GetVMInfo")
async def vm_info(nodeid: str, vmid: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    row = await _row(ctx, nodeid, vmid)
    await ctx.command(nodeid, "kvm.monitor", {})
    metrics = (await ctx.command(nodeid, "kvm.infops", {"uuid": row["uuid"]})).value or {}

    def last(key: str) -> float:
        return float((metrics.get(key) or {}).get("last_value") or 0)
    cpus = sorted(k for k in metrics if k.startswith("kvm.vcpu.time/"))
    disks = sorted({k.split("/", 1)[1] for k in metrics if k.startswith("kvm.disk.")})
    return {"cpu": [last(k) for k in cpus], "nics": [],
            "disks": [{"readIops": int(last(f"kvm.disk.iops.read/{d}")),
                       "writeIops": int(last(f"kvm.disk.iops.write/{d}")),
                       "readThroughput": int(last(f"kvm.disk.rdbytes/{d}") // MIB),
                       "writeThroughput": int(last(f"kvm.disk.wrbytes/{d}") // MIB)} for d in disks]}


async def _action(nodeid: str, vmid: str, ctx: ApiContext, command: str, **extra: Any) -> Response:
    row = await _row(ctx, nodeid, vmid)
    await ctx.command(nodeid, command, {"uuid": row["uuid"], **extra}, projectors=["vms"])
    return Response(status_code=204)


@router.post("/nodes/{nodeid}/vms/{vmid}/start", status_code=204, response_class=Response, summary="StartVM")
async def start_vm(nodeid: str, vmid: str, ctx: ApiContext = Depends(context)) -> Response:
    return await _action(nodeid, vmid, ctx, "kvm.start")


@router.post("/nodes/{nodeid}/vms/{vmid}/stop", status_code=204, response_class=Response, summary="StopVM")
async def stop_vm(nodeid: str, vmid: str, ctx: ApiContext = Depends(context)) -> Response:
    return await _action(nodeid, vmid, ctx, "kvm.shutdown", timeout=0)


@router.post("/nodes/{nodeid}/vms/{vmid}/pause", status_code=204, response_class=Response, summary="PauseVM")
async def pause_vm(nodeid: str, vmid: str, ctx: ApiContext = Depends(context)) -> Response:
    return await _action(nodeid, vmid, ctx, "kvm.pause")


@router.post("/nodes/{nodeid}/vms/{vmid}/resume", status_code=204, response_class=Response,
             summary="ResumeVM")
async def resume_vm(nodeid: str, vmid: str, ctx: ApiContext = Depends(context)) -> Response:
    return await _action(nodeid, vmid, ctx, "kvm.resume")


@router.post("/nodes/{nodeid}/vms/{vmid}/shutdown", status_code=204, response_class=Response,
             summary="ShutdownVM")
async def shutdown_vm(nodeid: str, vmid: str, ctx: ApiContext = Depends(context)) -> Response:
    return await _action(nodeid, vmid, ctx, "kvm.shutdown")


@router.post("/nodes/{nodeid}/vms/{vmid}/migrate", status_code=204, response_class=Response,
             summary="MigrateVM")
async def migrate_vm(nodeid: str, vmid: str, body: VMMigrate, ctx: ApiContext = Depends(context)) -> Response:
    return await _action(nodeid, vmid, ctx, "kvm.migrate", desturi=body.nodeid)

"""`/nodes/{id}/jobs` (from the projection; kill is a command) and `/nodes/{id}/processes`
(direct: process.list / process.kill on the node)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Depends, Path, Response

from zos.events import DUPLICATE_ID, FINAL_STATES

from .. import _queries as q
from .._context import context
from .._context import ApiContext
from .._errors import ApiError
from .._schemas import ERRORS, JobListItem, JobResult, Process
from .nodes import existing_node

router = APIRouter(tags=["jobs"], responses=ERRORS)
def _state(state: str) -> str:
    """The RAML's job state: lower case, and `duplicate_id` for upstream's wire misspelling."""
    if state == DUPLICATE_ID:
        return "duplicate_id"
    return state.lower() if state in FINAL_STATES else "running"


@router.get("/nodes/{nodeid}/jobs", response_model=list[JobListItem], summary="ListNodeJobs")
async def list_jobs(nodeid: str, ctx: ApiContext = Depends(context)) -> list[dict[str, Any]]:
    await existing_node(ctx, nodeid)
    return [{"id": r["id"], "startTime": r["starttime"], "name": r["command"],
             "state": _state(r["state"])} for r in await ctx.read(q.list_jobs, nodeid)]


@router.get("/nodes/{nodeid}/jobs/{jobid}", response_model=JobResult, summary="GetNodeJob")
async def get_job(nodeid: str, jobid: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    await existing_node(ctx, nodeid)
    row = await ctx.read(q.get_job, nodeid, jobid)
    if row is None:
        raise ApiError(404, f"job '{jobid}' not found on node '{nodeid}'")
    return {"id": row["id"], "name": row["command"], "level": row["level"],
            "startTime": row["starttime"], "stdout": row["stdout"], "stderr": row["stderr"],
            "state": _state(row["state"]), "data": row["data"]}


@router.delete("/nodes/{nodeid}/jobs", status_code=204, response_class=Response,
               summary="KillAllNodeJobs")
async def kill_all(nodeid: str, ctx: ApiContext = Depends(context)) -> Response:
    await existing_node(ctx, nodeid)
    await ctx.command(nodeid, "job.killall", {}, projectors=["jobs"])
    return Response(status_code=204)


@router.delete("/nodes/{nodeid}/jobs/{jobid}", status_code=204, response_class=Response,
               summary="KillNodeJob")
async def kill_job(nodeid: str, jobid: str, ctx: ApiContext = Depends(context)) -> Response:
    """SIGTERM to the job; 204 once the job's end is in the projection (also when it was
    already over or never existed)."""
    await existing_node(ctx, nodeid)
    row = await ctx.read(q.get_job, nodeid, jobid)
    if row is None or row["state"] in FINAL_STATES:
        return Response(status_code=204)
    deadline = time.monotonic() + ctx.wait
    await ctx.command(nodeid, "job.kill", {"id": jobid, "signal": 15}, projectors=["jobs"])
    while time.monotonic() < deadline:
        row = await ctx.read(q.get_job, nodeid, jobid)
        if row is None or row["state"] in FINAL_STATES:
            return Response(status_code=204)
        await asyncio.sleep(0.05)
    raise ApiError(504, f"job '{jobid}' was signalled but has not ended within {ctx.wait} s",
                   details={"job": jobid})


def _process(p: Any) -> Any:
    if not isinstance(p, dict):
        return p
    cmdline = p.get("cmdline", "")
    return {**p, "cmdline": " ".join(cmdline) if isinstance(cmdline, list) else str(cmdline),
            "pid": int(p.get("pid", 0)), "rss": int(p.get("rss") or 0),
            "swap": int(p.get("swap") or 0), "vms": int(p.get("vms") or 0)}


PID = Path(ge=1, le=2**31 - 1)


@router.get("/nodes/{nodeid}/processes", response_model=list[Process], summary="ListNodeProcesses")
async def list_processes(nodeid: str, ctx: ApiContext = Depends(context)) -> list[Any]:
    await existing_node(ctx, nodeid)
    value = (await ctx.command(nodeid, "process.list", {})).value
    return [_process(p) for p in value or []]


@router.get("/nodes/{nodeid}/processes/{processid}", response_model=Process,
            summary="GetNodeProcess")
async def get_process(nodeid: str, processid: int = PID, ctx: ApiContext = Depends(context)) -> Any:
    await existing_node(ctx, nodeid)
    try:
        value = (await ctx.command(nodeid, "process.list", {"pid": processid})).value
    except ApiError as exc:
        if exc.status in (400, 404, 500) and exc.code == "node_error":
            raise ApiError(404, f"process {processid} not found on node '{nodeid}'") from None
        raise
    found = value[0] if isinstance(value, list) and value else value
    if not isinstance(found, dict):
        raise ApiError(404, f"process {processid} not found on node '{nodeid}'")
    return _process(found)


@router.delete("/nodes/{nodeid}/processes/{processid}", status_code=204, response_class=Response,
               summary="KillNodeProcess")
async def kill_process(nodeid: str, processid: int = Path(ge=2, le=2**31 - 1),
                       ctx: ApiContext = Depends(context)) -> Response:
    """SIGTERM, then SIGKILL if it is still there after 5 s; 204 also when it was gone."""
    await existing_node(ctx, nodeid)

    async def alive() -> bool:
        try:
            value = (await ctx.command(nodeid, "process.list", {"pid": processid})).value
        except ApiError as exc:
            if exc.code == "node_error":
                return False
            raise
        return bool(value)
    if not await alive():
        return Response(status_code=204)
    try:
        await ctx.command(nodeid, "process.kill", {"pid": processid, "signal": 15})
    except ApiError as exc:
        if exc.code != "node_error":
            raise
    for _ in range(50):
        if not await alive():
            return Response(status_code=204)
        await asyncio.sleep(0.1)
    await ctx.command(nodeid, "process.kill", {"pid": processid, "signal": 9})
    return Response(status_code=204)

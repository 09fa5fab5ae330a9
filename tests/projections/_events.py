"""Event streams for the projection tests: nodes booting, jobs running, bridges, noise."""

from __future__ import annotations

import random
import uuid
from typing import Any

from zos.events import Event, new_event


def job_events(node: str, job: str, command: str = "core.system", state: str = "SUCCESS",
               arguments: dict[str, Any] | None = None, runs: int = 1) -> list[Event]:
    out = [new_event("job.accepted", "job", job, {"node": node, "command": {
        "id": job, "command": command, "arguments": arguments or {"name": "true"}, "queue": "",
        "tags": None}})]
    for attempt in range(runs):
        out.append(new_event("job.started", "job", job, {"node": node, "command": command,
                                                          "pid": 100 + attempt, "attempt": attempt + 1,
                                                          "starttime": 1_700_000_000_000 + attempt}))
    out.append(new_event("job.finished", "job", job, {"node": node, "result": {
        "id": job, "command": command, "data": '"ok"', "streams": ["out\n", ""], "level": 20,
        "state": state, "code": 0 if state == "SUCCESS" else 1001,
        "starttime": 1_700_000_000_000, "time": 3, "tags": None, "container": 0}}))
    return out


def bridge_job(node: str, job: str, command: str, name: str, namespace: str | None = None,
               **network: Any) -> list[Event]:
    """A successful bridge.create / bridge.delete job with the domain event the agent records
    before its job.finished (`network`: mode, nat, settings of bridge.created)."""
    scope = {"namespace": namespace} if namespace else {}
    out = job_events(node, job, command, arguments={"name": name, **scope})
    aggregate_id = "-".join([node, *scope.values(), name])
    if command == "bridge.create":
        change = out[0].caused("bridge.created", "bridge", aggregate_id, {
            "node": node, **scope, "name": name, "hwaddr": "", "mode": "", "nat": False,
            "settings": {}, **network, "job": job})
    else:
        change = out[0].caused("bridge.deleted", "bridge", aggregate_id,
                               {"node": node, **scope, "name": name, "job": job})
    return [*out[:-1], change, out[-1]]


def booted(node: str, n: int = 0) -> Event:
    return new_event("node.booted", "node", node, {
        "node": node, "hostname": f"h-{node}-{n}", "cpus": 4, "memory": 8 << 30, "version": "v1",
        "nics": [{"name": "eth0", "addrs": [{"addr": f"10.0.0.{n % 250 + 1}/24"}]}],
        "info": {"os": "linux"}, "disks": [{"name": "sda"}]})


def mixed_history(prefix: str, nodes: int = 3, jobs: int = 40, seed: int = 1) -> list[Event]:
    """Boots, jobs (some restarted, some failed), bridges made and removed, snapshots, and
    events of a type nobody declared: interleaved at random but each aggregate in order."""
    rng = random.Random(seed)
    streams: list[list[Event]] = []
    names = [f"{prefix}-n{i}" for i in range(nodes)]
    for i, node in enumerate(names):
        streams.append([booted(node, i), booted(node, i + 1)])
    for j in range(jobs):
        node = rng.choice(names)
        kind = rng.random()
        job = f"{prefix}-j{j}-{uuid.uuid4().hex[:6]}"
        if kind < 0.15:  # a bridge (some in a namespace), every other one deleted later
            namespace = f"ns{j % 3}" if j % 3 else None
            history = bridge_job(node, job, "bridge.create", f"br{j}", namespace, mode="static",
                                 nat=True, settings={"cidr": f"10.{j}.0.1/24"})
            if j % 2:
                history += bridge_job(node, f"{job}-del", "bridge.delete", f"br{j}", namespace)
            streams.append(history)
        elif kind < 0.2:
            streams.append(job_events(node, job, "info.mem"))
        else:
            streams.append(job_events(node, job, state=rng.choice(["SUCCESS", "ERROR"]),
                                      runs=rng.randint(1, 3)))
    user = f"{prefix}-user"
    streams.append([
        new_event("flist.uploaded", "flist", f"{user}/a", {"user": user, "name": "a", "size": 1,
                                                           "md5": "x", "source": "tar"}),
        new_event("flist.tagged", "flist", f"{user}/t", {"user": user, "name": "a", "tag": "t",
                                                         "target_user": user, "target": "a"}),
        new_event("flist.renamed", "flist", f"{user}/a", {"user": user, "name": "a", "new_name": "b"}),
        new_event("flist.untagged", "flist", f"{user}/t", {"user": user, "name": "a", "tag": "t"})])
    disk = f"{prefix}-vd"
    streams.append([
        new_event("storagecluster.created", "storagecluster", disk, {"label": disk, "servers": []}),
        new_event("vdisk.created", "vdisk", disk, {"name": disk, "size": 1 << 30, "block_size": 4096,
                                                   "type": "db", "storage": "rocksdb"}),
        new_event("vdisk.attached", "vdisk", disk, {"name": disk, "server": "s"}),
        new_event("vdisk.resized", "vdisk", disk, {"name": disk, "size": 2 << 30, "old_size": 1 << 30})])
    streams.append([Event(type="zz.undeclared", aggregate="node", aggregate_id=names[0],
                          data={"x": 1})])
    out: list[Event] = []
    while streams:
        pick = rng.randrange(len(streams))
        out.append(streams[pick].pop(0))
        if not streams[pick]:
            streams.pop(pick)
    return out

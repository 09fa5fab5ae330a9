"""Events of the node agent: the node aggregate and the job aggregate."""

from .._registry import declare

declare("node.booted", "node", [
    "node:str", "hostname:str?", "kernel:str?", "cpus:int?", "memory:int?",
    "disks:list?", "nics:list?", "version:str?", "bridge:str?", "info:map?",
], doc="A node agent started and announced its hardware.")

declare("node.stopped", "node", ["node:str", "reason:str?"],
        doc="A node agent stopped cleanly.")

declare("job.accepted", "job", ["node:str", "command:map"],
        doc="The agent took a command for execution (once per command id).")

declare("job.started", "job", ["node:str", "command:str", "pid:int?", "attempt:int?", "starttime:int?"],
        doc="A run of the job began (one per restart or recurrence).")

declare("job.finished", "job", ["node:str", "result:map"],
        doc="The job's whole lifecycle ended; `result` is the exact 0-core result object.")

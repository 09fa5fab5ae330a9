"""Events of the VMs a node hosts (`kvm.*` builtins, spec containers-vms §2).

Aggregate `vm`, id = the VM's uuid. `state` is one of the 0-core list states the agent reports:
`running`, `paused`, `shutdown` (guest asked to power off, qemu still there), `shutoff` (no
qemu process), `crashed`. Commands record the change they made; the QMP watcher records what
happened without a command (guest powered off, qemu died), with the node as actor.
"""

from .._registry import declare

declare("vm.created", "vm", [
    "uuid:str", "name:str", "node:str",
    "cpu:int", "memory:int",          # vCPUs; MiB
    "media:list",                     # [{url, type, bus?, iotune?}] as asked
    "nics:list?",                     # [{type, id, hwaddr}] with the hwaddr given or made
    "accel:str?",                     # kvm | tcg
    "pid:int?", "tags:list?", "flist:str?",
], doc="A qemu process for the VM runs on `node` (the first medium boots).")
declare("vm.state_changed", "vm", ["uuid:str", "state:str", "node:str", "reason:str?", "previous:str?"],
        doc="The VM's run state changed (from a command or a QMP event: STOP, RESUME, SHUTDOWN, "
            "RESET, POWERDOWN, or the qemu process ending).")
declare("vm.adopted", "vm", ["uuid:str", "name:str", "node:str", "state:str", "pid:int"],
        doc="A new agent found the VM's qemu still running and took it over (after a restart).")
declare("vm.destroyed", "vm", ["uuid:str", "node:str", "reason:str?"],
        doc="The VM is gone from the node: qemu stopped, its sockets, taps and rules removed.")
declare("vm.disk_attached", "vm", ["uuid:str", "node:str", "media:map", "device:str"],
        doc="A disk was hot-plugged (`device` is qemu's device id, e.g. `disk1`).")
declare("vm.disk_detached", "vm", ["uuid:str", "node:str", "media:map", "device:str"],
        doc="A disk was unplugged from a running VM.")
declare("vm.disk_limited", "vm", ["uuid:str", "node:str", "device:str", "iotune:map"],
        doc="The I/O throttle of a disk changed (`iotune` as qemu's block_set_io_throttle fields).")
declare("vm.nic_added", "vm", ["uuid:str", "node:str", "nic:map", "device:str"],
        doc="A nic was hot-plugged.")
declare("vm.nic_removed", "vm", ["uuid:str", "node:str", "nic:map", "device:str"],
        doc="A nic was unplugged.")
declare("vm.migrated", "vm", ["uuid:str", "source:str", "target:str", "node:str"],
        doc="The VM now runs on `target` (`node` = target); the source's qemu is gone.")

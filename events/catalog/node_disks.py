"""Events of a node's own disks and mounts (the agent's `disk.*` builtins). Vdisks of the
block-storage part are in `disk.py`.

| aggregate | id                    | types                                  |
|-----------|-----------------------|----------------------------------------|
| `disk`    | `<node>-<disk>`       | disk.partitioned                       |
| `mount`   | `<node>-<mountpoint>` | disk.mounted, disk.unmounted           |

Mountpoints are paths, so a mount's subject token is a hash (`zos.bus.event_subject`); the
path is in the data. Aggregate `mount` is shared with 0-FS mounts (`fs.*`, id = mount name):
everything mounted on a node, whoever mounted it.
"""

from .._registry import declare

declare("disk.partitioned", "disk", [
    "node:str",
    "disk:str",          # bare device name, e.g. loop0, sda
    "operation:str",     # mktable | mkpart | rmpart
    "table:str?",        # mktable: the new partition table type (gpt, msdos, ...)
    "part_type:str?",    # mkpart: primary, logical, extended or (gpt) a name
    "start:str?",        # mkpart: start position as asked (1MiB, 2048s, 50%, ...)
    "end:str?",          # mkpart: end position as asked
    "number:int?",       # rmpart: the partition removed
    "partitions:list?",  # the table afterwards, when it could be read: [{number, start, end,
                         # size (bytes), filesystem, name, flags}]
], doc="A disk's partition table was written (a new table, a partition added or removed).")

declare("disk.mounted", "mount", [
    "node:str",
    "source:str",        # device, path or filesystem name, as given
    "target:str",        # the mountpoint as the kernel shows it
    "options:str?",      # as given (-o)
    "filesystem:str?",   # as the kernel shows it
], doc="Something was mounted on a node by the disk.mount builtin.")

declare("disk.unmounted", "mount", ["node:str", "source:str", "target:str"],
        doc="A mount went away through the disk.umount builtin (`source` = the mounted device).")

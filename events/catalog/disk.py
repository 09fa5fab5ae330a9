"""Events of the block-storage part (`zos.disk`): vdisks and storage clusters.

Aggregate `vdisk` (id = the vdisk name) and `storagecluster` (id = the cluster label). Each
event carries every field a read model needs, so a projection never has to look elsewhere:
sizes in bytes, `storage` as a URL (`rocksdb`, `redis://h:p[/db],h:p…`, `cluster:<label>`).
"""

from .._registry import declare

_VDISK = [
    "name:str",               # vdisk id, also the NBD export name
    "size:int",               # bytes (a multiple of block_size)
    "block_size:int",         # power of two, 512..65536
    "type:str",               # boot | db | cache | tmp
    "storage:str",            # where the blocks live
    "deduped:bool?",          # boot vdisks are deduped
    "tlog:bool?",             # writes go through the transaction log on ZOS_TLOG
    "read_only:bool?",
    "template:str?",          # template vdisk for lazy copy-on-read (boot/db)
    "template_storage:str?",  # storage of the template when it differs
    "server:str?",            # the disk server that exports it; absent = every server
    "node:str?",              # node that asked for it
    "source:str?",            # vdisk or snapshot it was copied, restored or imported from
]

declare("vdisk.created", "vdisk", _VDISK,
        doc="A vdisk exists: every disk server (or the named one) exports it from now on.")
declare("vdisk.deleted", "vdisk", ["name:str", "storage:str?"],
        doc="A vdisk and its data and log are gone; servers stop exporting it.")
declare("vdisk.resized", "vdisk", ["name:str", "size:int", "old_size:int"],
        doc="A vdisk grew (shrinking is refused); size in bytes.")
declare("vdisk.copied", "vdisk", ["name:str", "source:str", "blocks:int?"],
        doc="A vdisk was filled from another vdisk's blocks (it was created just before).")
declare("vdisk.restored", "vdisk", ["name:str", "source:str", "to_time:int", "source_seq:int?",
                                    "blocks:int?"],
        doc="A vdisk was rebuilt from another vdisk's transaction log as it was at `to_time` (ns).")
declare("vdisk.exported", "vdisk", ["name:str", "snapshot:str", "target:str", "blocks:int?",
                                    "block_size:int?"],
        doc="A vdisk's blocks were written to a snapshot (compressed, optionally encrypted).")
declare("vdisk.imported", "vdisk", ["name:str", "snapshot:str", "source:str", "blocks:int?"],
        doc="A vdisk was filled from a snapshot (it was created just before).")
declare("vdisk.attached", "vdisk", ["name:str", "server:str", "node:str?", "address:str?"],
        doc="A disk server opened the vdisk for its first NBD connection (it is in use).")
declare("vdisk.detached", "vdisk", ["name:str", "server:str", "node:str?"],
        doc="The last NBD connection of the vdisk closed; its data was flushed.")
declare("vdisk.error", "vdisk", ["name:str", "status:int", "message:str", "server:str?"],
        doc="Storage or log failure of a vdisk (upstream statuses: 401 cluster timeout, "
            "403 invalid config, 421 server timeout, 422 disconnect, 423 temporary).")

declare("storagecluster.created", "storagecluster", ["label:str", "servers:list"],
        doc="A storage cluster: ordered servers [{address, db, state}] (order is the sharding).")
declare("storagecluster.updated", "storagecluster", ["label:str", "servers:list"],
        doc="A storage cluster's servers changed (state or address); same shape as created.")
declare("storagecluster.deleted", "storagecluster", ["label:str"],
        doc="A storage cluster is gone; vdisks on it can no longer be opened.")

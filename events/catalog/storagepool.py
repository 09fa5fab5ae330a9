"""Events of a node's storage: btrfs storage pools, their filesystems (subvolumes with a
quota) and read-only snapshots (ARCHITECTURE §6).

Aggregates and ids (one subject token each; the readable names are in the data):
`storagepool` `<node>-<pool>`, `filesystem` `<node>-<pool>-<fs>`, `snapshot`
`<node>-<pool>-<fs>-<snapshot>` (hashed by the subject helper when a name has a `.`).
Sizes are bytes; `used` and `size` are what btrfs reported when the event was recorded.
"""

from .._registry import declare

_POOL = ["node:str", "name:str"]
_DEVICES = "devices:list"  # [{"device": "/dev/loop3", "uuid": "<btrfs device uuid>"}]

declare("storagepool.created", "storagepool",
        [*_POOL, "uuid:str", "label:str", _DEVICES, "metadata_profile:str", "data_profile:str",
         "mountpoint:str", "size:int", "used:int?"],
        doc="A btrfs filesystem was made on the devices and mounted at `mountpoint`.")
declare("storagepool.device_added", "storagepool", [*_POOL, _DEVICES, "size:int?"],
        doc="Devices joined the pool; `size` is the pool's new total.")
declare("storagepool.device_removed", "storagepool", [*_POOL, _DEVICES, "size:int?"],
        doc="Devices left the pool (their data moved to the others); `size` is the new total.")
declare("storagepool.deleted", "storagepool", [*_POOL, "uuid:str?"],
        doc="The pool was unmounted and its devices wiped.")
declare("storagepool.mounted", "storagepool", [*_POOL, "uuid:str", "mountpoint:str"],
        doc="An agent found the pool the log says exists on its disks and mounted it again "
            "(after an agent restart or a reboot).")
declare("storagepool.missing", "storagepool", [*_POOL, "uuid:str", "reason:str"],
        doc="The log says the pool exists but the node cannot mount it (its disks are gone, or "
            "some are): reported, never recreated.")

_FS = ["node:str", "pool:str", "name:str"]
declare("filesystem.created", "filesystem",
        [*_FS, "path:str", "quota:int", "read_only:bool?"],
        doc="A subvolume of the pool; `quota` in bytes, 0 = none.")
declare("filesystem.quota_set", "filesystem", [*_FS, "quota:int", "used:int?"],
        doc="The filesystem's quota changed (bytes, 0 = none); `used` is what it held then.")
declare("filesystem.deleted", "filesystem", _FS,
        doc="The subvolume is gone (its snapshots were deleted before it).")

_SNAP = ["node:str", "pool:str", "filesystem:str", "name:str"]
declare("snapshot.created", "snapshot", [*_SNAP, "path:str", "timestamp:int", "used:int?"],
        doc="A read-only snapshot of the filesystem; `timestamp` in seconds since the epoch.")
declare("snapshot.rolled_back", "snapshot", _SNAP,
        doc="The filesystem was replaced by a writable copy of this snapshot (one atomic "
            "rename); its quota and read-only flag were kept.")
declare("snapshot.deleted", "snapshot", _SNAP,
        doc="The snapshot subvolume is gone.")

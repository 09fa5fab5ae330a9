"""Events of 0-FS mounts (`zos.fs.mount`): aggregate `mount`, id = the mount name.

I/O statistics are not events: they go to ZOS_IO (`zos.io.fs.<mount>`) once per interval.
"""

from .._registry import declare

declare("fs.mounted", "mount", [
    "name:str",          # mount name (also the ZOS_IO subject token)
    "target:str",        # where the tree is visible
    "flist:str",         # the --meta flist (path or URL)
    "layers:list?",      # every flist, top first (first wins)
    "read_only:bool?",   # False: an overlayfs with a writable upper dir is on top
    "backend:str?",      # overlay upper/work directory (read-write mounts)
    "cache:str?",        # shared chunk cache directory
    "storage:list?",     # chunk stores, in the order they are tried
    "pid:int?",          # the mount process
], doc="An flist is mounted and answering at `target`.")

declare("fs.unmounted", "mount", ["name:str", "target:str", "reason:str?", "stats:map?"],
        doc="A mount went away (`reason`: umount, signal, error); `stats` totals its life.")

declare("fs.error", "mount", ["name:str", "target:str", "message:str", "path:str?", "chunk:str?",
                              "kind:str?"],
        doc="A read failed with EIO (`kind`: missing, corrupt, timeout, metadata); at most one "
            "event per chunk per mount, never one per read.")

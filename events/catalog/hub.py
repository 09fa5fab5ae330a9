"""Events of the Hub: every change to a repository of flists (aggregate `flist`, id `user/name`)."""

from .._registry import declare

_WHO = ["user:str", "name:str"]

declare("flist.uploaded", "flist", [*_WHO, "size:int", "md5:str", "source:str", "stats:map?",
                                    "metadata:map?"],
        doc="A new flist was stored: from a tar.gz (`source` tar) or as a ready .flist (`source` flist).")

declare("flist.merged", "flist", [*_WHO, "size:int", "md5:str", "sources:list", "collisions:int?"],
        doc="An flist was built by merging others (first wins, directories merged).")

declare("flist.renamed", "flist", [*_WHO, "new_name:str"],
        doc="An flist (file or link) was renamed within its repository.")

declare("flist.linked", "flist", [*_WHO, "target_user:str", "target:str", "kind:str"],
        doc="A symlink (`kind` link, crosslink) or a taglink (`kind` crosstag) was created or replaced.")

declare("flist.promoted", "flist", [*_WHO, "source_user:str", "source:str", "size:int", "md5:str"],
        doc="An flist was copied (not linked) from another repository.")

declare("flist.tagged", "flist", [*_WHO, "tag:str", "target_user:str", "target:str"],
        doc="A tag member was added.")

declare("flist.untagged", "flist", [*_WHO, "tag:str"],
        doc="A tag member was removed (an empty tag is removed with it).")

declare("flist.deleted", "flist", [*_WHO, "kind:str"],
        doc="An flist, symlink or taglink was deleted.")

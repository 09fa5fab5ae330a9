"""The flist library: open, walk and read flists of any format; build, merge and convert them.

    fl = open_flist("ubuntu.flist", default_workdir(data_dir))  # hub archive, bare SQLite,
                                                                 # native RocksDB, legacy
    entry = fl.lookup("bin/ls")                   # Entry: kind, mode, uid, gid, size, blocks, ...
    data = fl.read(entry, 0, 4096, fl.stores(data_dir=data_dir))  # verified plaintext, only the
                                                                   # chunks needed

    builder = FlistBuilder(store)                 # or create_flist(dir_or_tar, "out.flist", store)
"""

from ._archive import DB_NAME, write_archive
from ._capnp import RAW_SCHEMA_PATH, SCHEMA_PATH, decode_aci, decode_dir, encode_aci, encode_dir
from ._errors import (EntryNotFoundError, FlistError, FlistFormatError, NotADirectoryEntryError,
                      UnsafeEntryError)
from ._keys import LEGACY_ROOT_KEY, MAX_PATH, ROOT_KEY, acl_text, aclkey, dirkey, legacy_dirkey, relpath
from ._locate import MAX_COPIES, MAX_COPY_BYTES, Location, locate
from ._merge import MergeResult, merge
from ._model import KINDS, Aci, Block, Entry, RawDir, RawInode
from ._reader import DEFAULT_OWNER, Flist, default_workdir, open_flist
from ._tar import MAX_EXTENDED_HEADER, add_tar
from ._tools import check, convert, copy_chunks, create_flist
from ._tree import add_tree
from ._writer import BuildStats, FlistBuilder, clean_path

__all__ = [
    "Aci", "Block", "BuildStats", "DB_NAME", "DEFAULT_OWNER", "Entry", "EntryNotFoundError", "Flist",
    "FlistBuilder", "FlistError", "FlistFormatError", "KINDS", "LEGACY_ROOT_KEY", "Location", "MAX_COPIES",
    "MAX_COPY_BYTES", "MAX_EXTENDED_HEADER", "MAX_PATH", "MergeResult", "NotADirectoryEntryError",
    "RAW_SCHEMA_PATH", "ROOT_KEY", "RawDir", "RawInode", "SCHEMA_PATH", "UnsafeEntryError", "acl_text",
    "aclkey", "add_tar", "add_tree", "check", "clean_path", "convert", "copy_chunks", "create_flist",
    "decode_aci", "decode_dir", "default_workdir", "dirkey", "encode_aci", "encode_dir", "legacy_dirkey",
    "locate", "merge", "open_flist", "relpath", "write_archive",
]

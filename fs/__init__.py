"""zos.fs: flists (metadata of a file tree) and chunk stores (its contents). Spec:
shared/spec/flist-hub-fs.md. The FUSE mount (fs/mount/) is built on the names below.

Reading (stable API; every call is thread-safe and blocking: run it in a worker thread):

    from zos.fs import open_flist, fetch_chunk, open_store, default_store

    fl = open_flist("img.flist", default_workdir(data_dir))
                                      # hub .flist (tar.gz), bare flistdb.sqlite3, native RocksDB
                                      # dir, or legacy G0/G1; archives are copied (never extracted
                                      # by member path) to DATA/flists/<sha256>/, which keeps the
                                      # most recently opened ones; without a workdir, to a private
                                      # temporary directory removed by fl.close()
    root = fl.root()                  # Entry of "/"
    e = fl.lookup("usr/bin/ls")       # Entry or EntryNotFoundError (a FileNotFoundError)
    fl.listdir("usr/bin")             # [Entry] in stored order, specials included, dups: first wins
    fl.walk()                         # every Entry below the root, parents first
    fl.readlink("bin")                # bytes

    Entry fields: path (relpath bytes, root b""), name, kind ("dir" "file" "symlink" "block" "char"
    "fifo" "socket" "unknown"), mode (perm bits incl. suid/sgid/sticky), st_mode (type | perm),
    uid, gid (ACI ids; else decimal names; else host passwd/group; else 65534 - never 0),
    uname, gname, size (dir 4096, link len(target), special 0), mtime, ctime (u32 seconds),
    target (symlink bytes), rdev (os.makedev), blocks (tuple of Block(id, key), 16 bytes each),
    chunk_size (bytes per block, normally 512 KiB), dirkey (dirs), aclkey.
    Hardlinks do not exist in flists: each link is an independent file sharing the same blocks.

Chunks:

    stores = fl.stores(["redis://127.0.0.1:6379"], data_dir=data_dir)
                                                     # explicit stores, then DATA/chunks (the local
                                                     # default store), then metadata.backend
    plain = fetch_chunk(stores, block.id, block.key) # GET, verify id, XXTEA, snappy, verify key;
                                                     # next store on miss/corruption, else
                                                     # ChunkMissingError (map to EIO)
    fl.read(e, offset, size, stores)                 # bytes of a file range, chunk by chunk

    ChunkStore: get(id) -> bytes | None, set(id, data), exists_many(ids) -> [bool], delete(id).
    open_store(url): zdb://[:pw@]host:port[/ns], redis://, ardb://, unix://path?namespace=ns,
    http(s)://hub (chunk API), file:///dir or a path (DirStore). default_store_path(data_dir) =
    DATA/chunks. The data directory is always an argument: the command line decides it.

Writing: FlistBuilder(store) (add_dir/add_file/add_symlink/add_hardlink/add_special,
set_metadata, write(out, format="hub"|"native")), create_flist(dir_or_tar, out, store),
add_tar(builder, fileobj) (streamed, nothing extracted), merge(base, others, out), convert(fl, out,
format), check(fl, stores), copy_chunks(fl, sources, dest).

Files by content: file_digest(path, algorithm="sha256") -> hex.
"""

from ._digest import file_digest
from .flist import (DB_NAME, DEFAULT_OWNER, KINDS, LEGACY_ROOT_KEY, MAX_PATH, ROOT_KEY, Aci, Block,
                    BuildStats, Entry, EntryNotFoundError, Flist, FlistBuilder, FlistError,
                    FlistFormatError, MergeResult, NotADirectoryEntryError, UnsafeEntryError, aclkey,
                    add_tar, add_tree, check, convert, copy_chunks, create_flist, default_workdir, dirkey,
                    merge, open_flist, relpath)
from .store import (CHUNK_SIZE, ChunkCorruptError, ChunkError, ChunkMissingError, ChunkStore,
                    ChunkUploader, DirStore, HttpStore, RedisStore, StoreError, StoreUnavailableError,
                    StoreURLError, backend_url, decode_chunk, default_store, default_store_path,
                    encode_chunk, fetch_chunk, open_store)

__all__ = [
    "Aci", "Block", "BuildStats", "CHUNK_SIZE", "ChunkCorruptError", "ChunkError", "ChunkMissingError",
    "ChunkStore", "ChunkUploader", "DB_NAME", "DEFAULT_OWNER", "DirStore", "Entry", "EntryNotFoundError",
    "Flist", "FlistBuilder", "FlistError", "FlistFormatError", "HttpStore", "KINDS", "LEGACY_ROOT_KEY",
    "MAX_PATH", "MergeResult", "NotADirectoryEntryError", "ROOT_KEY", "RedisStore", "StoreError",
    "StoreURLError", "StoreUnavailableError", "UnsafeEntryError", "aclkey", "add_tar", "add_tree",
    "backend_url", "check", "convert", "copy_chunks", "create_flist", "decode_chunk", "default_store",
    "default_store_path", "default_workdir", "dirkey", "encode_chunk", "fetch_chunk", "file_digest",
    "merge", "open_flist", "open_store", "relpath",
]

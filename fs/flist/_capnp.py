"""Cap'n Proto entries (spec §4) <-> the plain values of `_model`.

`flist.capnp` is the normative schema, quoted exactly. Messages are read and written through
`flist_raw.capnp`, the same schema with every Text declared as Data: identical bytes on the
wire (Text is Data plus a trailing NUL), but raw non-UTF-8 file names survive both ways, which
pycapnp's Text (always UTF-8 `str`) cannot do. A test pins the two schemas together.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import capnp

from ._errors import FlistFormatError
from ._model import (SPECIAL_UNKNOWN, TAG_DIR, TAG_FILE, TAG_LINK, TAG_SPECIAL, Aci, Block, RawDir,
                     RawInode)

HERE = Path(__file__).resolve().parent
SCHEMA_PATH = HERE / "flist.capnp"
RAW_SCHEMA_PATH = HERE / "flist_raw.capnp"

_raw = capnp.load(str(RAW_SCHEMA_PATH))
_TRAVERSAL = 1 << 62
_WARN_SIZE = 4 << 20
_TAGS = {"dir": TAG_DIR, "file": TAG_FILE, "link": TAG_LINK, "special": TAG_SPECIAL}
_SPECIAL_NAMES = ["socket", "block", "chardev", "fifopipe", "unknown"]


def _text(value: bytes) -> bytes:
    return value[:-1] if value.endswith(b"\0") else value


def _key(value: bytes) -> str:
    return _text(value).decode("ascii", "surrogateescape")


def _as_text(value: bytes | str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return raw + b"\0"


def decode_dir(data: bytes, where: str = "") -> RawDir:
    """One Dir message -> RawDir (all fields copied out while the message is alive)."""
    try:
        with _raw.Dir.from_bytes(data, traversal_limit_in_words=_TRAVERSAL) as msg:
            contents = []
            for inode in msg.contents:
                attrs = inode.attributes
                which = attrs.which()
                raw = RawInode(name=_text(inode.name), size=inode.size, tag=_TAGS[which],
                               aclkey=_key(inode.aclkey), mtime=inode.modificationTime,
                               ctime=inode.creationTime)
                if which == "dir":
                    raw.subdir = _key(attrs.dir.key)
                elif which == "file":
                    raw.block_size = attrs.file.blockSize
                    raw.blocks = tuple(Block(bytes(b.hash), bytes(b.key)) for b in attrs.file.blocks)
                elif which == "link":
                    raw.target = _text(attrs.link.target)
                else:
                    special = attrs.special
                    raw.special_type = _SPECIAL_NAMES.index(str(special.type)) \
                        if str(special.type) in _SPECIAL_NAMES else SPECIAL_UNKNOWN
                    raw.special_data = bytes(special.data)
                contents.append(raw)
            return RawDir(name=_text(msg.name), location=_text(msg.location), parent=_key(msg.parent),
                          size=msg.size, aclkey=_key(msg.aclkey), mtime=msg.modificationTime,
                          ctime=msg.creationTime, contents=contents)
    except (capnp.KjException, ValueError, KeyError) as exc:
        raise FlistFormatError(f"undecodable directory entry {where}: {exc}") from None


def decode_aci(data: bytes, where: str = "") -> Aci:
    try:
        with _raw.ACI.from_bytes(data, traversal_limit_in_words=_TRAVERSAL) as msg:
            return Aci(uname=_text(msg.uname).decode("utf-8", "surrogateescape"),
                       gname=_text(msg.gname).decode("utf-8", "surrogateescape"),
                       mode=msg.mode & 0o7777, uid=msg.uid, gid=msg.gid)
    except (capnp.KjException, ValueError) as exc:
        raise FlistFormatError(f"undecodable ACL entry {where}: {exc}") from None


def encode_aci(aci: Aci) -> bytes:
    msg = _raw.ACI.new_message()
    msg.uname = _as_text(aci.uname.encode("utf-8", "surrogateescape"))
    msg.gname = _as_text(aci.gname.encode("utf-8", "surrogateescape"))
    msg.mode = aci.mode & 0o7777
    msg.init("rights", 0)
    msg.uid = aci.uid
    msg.gid = aci.gid
    return msg.to_bytes()


def encode_dir(d: RawDir) -> bytes:
    msg = _raw.Dir.new_message()
    msg.name = _as_text(d.name)
    msg.location = _as_text(d.location)
    msg.parent = _as_text(d.parent)
    msg.size = d.size
    msg.aclkey = _as_text(d.aclkey)
    msg.modificationTime = d.mtime
    msg.creationTime = d.ctime
    contents = msg.init("contents", len(d.contents))
    for slot, inode in zip(contents, d.contents, strict=True):
        slot.name = _as_text(inode.name)
        slot.size = inode.size
        slot.aclkey = _as_text(inode.aclkey)
        slot.modificationTime = inode.mtime
        slot.creationTime = inode.ctime
        attrs = slot.attributes
        if inode.tag == TAG_DIR:
            attrs.init("dir").key = _as_text(inode.subdir)
        elif inode.tag == TAG_FILE:
            file = attrs.init("file")
            file.blockSize = inode.block_size
            if inode.blocks:
                blocks = file.init("blocks", len(inode.blocks))
                for target, block in zip(blocks, inode.blocks, strict=True):
                    target.hash = block.id
                    target.key = block.key
        elif inode.tag == TAG_LINK:
            attrs.init("link").target = _as_text(inode.target)
        else:
            special = attrs.init("special")
            special.type = _SPECIAL_NAMES[inode.special_type]
            special.data = inode.special_data
    data = msg.to_bytes()
    if len(data) > _WARN_SIZE:
        warnings.warn(f"directory '/{d.location.decode(errors='replace')}' encodes to {len(data)} bytes: "
                      "upstream tools cannot rewrite a Dir above 4 MiB", stacklevel=2)
    return data

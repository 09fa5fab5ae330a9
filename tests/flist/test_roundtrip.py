"""tree -> flist -> ls -R and cat equal the source; tar streams; hub <-> native; big dirs."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import capnp
import pytest

from zos.fs import (DirStore, EntryNotFoundError, FlistBuilder, ROOT_KEY, add_tar, convert, check,
                    create_flist, default_store, dirkey, open_flist)
from zos.fs.flist import SCHEMA_PATH

KIND = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "symlink", stat.S_IFCHR: "char",
        stat.S_IFBLK: "block", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


def source_listing(root: Path) -> dict[bytes, dict]:
    out = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, base)
            info = {"kind": KIND[stat.S_IFMT(st.st_mode)], "mode": stat.S_IMODE(st.st_mode),
                    "uid": st.st_uid, "gid": st.st_gid, "mtime": int(st.st_mtime)}
            if stat.S_ISREG(st.st_mode):
                info["size"] = st.st_size
                info["data"] = Path(os.fsdecode(full)).read_bytes()
            if stat.S_ISLNK(st.st_mode):
                info["target"] = os.readlink(full)
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                info["rdev"] = st.st_rdev
            out[rel] = info
    return out


def flist_listing(path: Path, stores: list) -> dict[bytes, dict]:
    out = {}
    with open_flist(path) as fl:
        for e in fl.walk():
            info = {"kind": e.kind, "mode": e.mode if e.kind != "symlink" else e.mode, "uid": e.uid,
                    "gid": e.gid, "mtime": e.mtime}
            if e.kind == "file":
                info["size"] = e.size
                info["data"] = b"".join(fl.iter_content(e, fl.stores(stores)))
            if e.kind == "symlink":
                info["target"] = e.target
            if e.kind in ("char", "block"):
                info["rdev"] = e.rdev
            out[e.path] = info
    return out


def normalise_links(listing: dict[bytes, dict]) -> dict[bytes, dict]:
    for info in listing.values():
        if info["kind"] == "symlink":
            info["mode"] = 0o777
    return listing


def test_tree_round_trip(tree: Path, tmp_path: Path, store: DirStore) -> None:
    stats = create_flist(tree, tmp_path / "t.flist", store)
    assert stats.hardlink == 1 and stats.symlink == 2 and stats.special >= 1
    expected = normalise_links(source_listing(tree))
    got = normalise_links(flist_listing(tmp_path / "t.flist", [store]))
    assert got == expected
    with open_flist(tmp_path / "t.flist") as fl:
        assert fl.format == "hub"
        multi, hard = fl.lookup("multi"), fl.lookup("/multi-hardlink")
        assert multi.blocks == hard.blocks and len(multi.blocks) == 4
        assert fl.lookup("exact").blocks and len(fl.lookup("exact").blocks) == 1
        assert len(fl.lookup("plus1").blocks) == 2
        assert fl.lookup("empty").blocks == ()
        assert fl.lookup("same").blocks == fl.lookup("etc/hostname").blocks  # convergent dedup
        assert fl.lookup("suid").mode == 0o4755 and fl.lookup("tmp").mode == 0o1777
        assert fl.lookup("sgid-dir").mode == 0o2775
        assert fl.lookup(b"caf\xe9-latin1").size == 9
        assert fl.read("multi", 512 * 1024 - 3, 10, [store]) == (tree / "multi").read_bytes()[512 * 1024 - 3:][:10]
        assert fl.read("multi", 10**9, 10, [store]) == b""
        if os.geteuid() == 0:
            assert fl.lookup("bigminor").rdev == os.makedev(4, 300)
            assert fl.lookup("etc/hostname").uid == 1234
        with pytest.raises(EntryNotFoundError):
            fl.lookup("etc/nothing")
        with pytest.raises(EntryNotFoundError):
            fl.lookup("etc/hostname/below")
        assert check(fl, [store]) == {"missing": [], "corrupt": []}


def test_entries_follow_the_spec_layout(tree: Path, tmp_path: Path, store: DirStore) -> None:
    os.unlink(os.path.join(os.fsencode(tree), b"caf\xe9-latin1"))  # pycapnp's Text is UTF-8 only
    create_flist(tree, tmp_path / "t.flist", store)
    with open_flist(tmp_path / "t.flist") as fl:
        exact = capnp.load(str(SCHEMA_PATH))
        root = fl.db.get(ROOT_KEY)
        with exact.Dir.from_bytes(root, traversal_limit_in_words=1 << 40) as d:
            assert d.parent == ROOT_KEY and d.name == "" and d.location == "" and d.size == 4096
            names = [c.name.encode() for c in d.contents]
            assert names == sorted(names)
            etc = next(c for c in d.contents if c.name == "etc")
            assert etc.attributes.which() == "dir" and etc.attributes.dir.key == dirkey(b"etc")
            exact_file = next(c for c in d.contents if c.name == "exact")
            assert exact_file.attributes.file.blockSize == 128
            assert len(exact_file.attributes.file.blocks[0].hash) == 16
            fifo = next(c for c in d.contents if c.name == "fifo")
            assert str(fifo.attributes.special.type) == "fifopipe"
            assert bytes(fifo.attributes.special.data) == b"(nothing)"
        sub = fl.db.get(dirkey(b"etc"))
        with exact.Dir.from_bytes(sub, traversal_limit_in_words=1 << 40) as d:
            assert d.parent == ROOT_KEY and d.location == "etc" and d.name == "etc"


def test_archive_members(tree: Path, tmp_path: Path, store: DirStore) -> None:
    create_flist(tree, tmp_path / "t.flist", store)
    with tarfile.open(tmp_path / "t.flist") as tar:
        assert [m.name for m in tar.getmembers()] == ["./", "./flistdb.sqlite3"] or \
            [m.name for m in tar.getmembers()] == [".", "./flistdb.sqlite3"]


def _tar_of(tree: Path, out: Path) -> Path:
    subprocess.run(["tar", "-czf", str(out), "--numeric-owner", "-C", str(tree), "."], check=True)
    return out


def test_tar_round_trip_equals_tree(tree: Path, tmp_path: Path, store: DirStore) -> None:
    archive = _tar_of(tree, tmp_path / "src.tar.gz")
    stats = create_flist(archive, tmp_path / "t.flist", store)
    assert stats.hardlink == 1
    expected = normalise_links(source_listing(tree))
    got = normalise_links(flist_listing(tmp_path / "t.flist", [store]))
    assert got == expected


def test_tar_devices_without_privileges(tmp_path: Path, store: DirStore) -> None:
    """Device nodes and foreign owners come from the headers: nothing needs mknod or chown."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        dev = tarfile.TarInfo("dev/console")
        dev.type, dev.devmajor, dev.devminor, dev.mode, dev.uid, dev.gid = tarfile.CHRTYPE, 5, 1, 0o600, 0, 5
        tar.addfile(dev)
        data = b"x" * 100
        f = tarfile.TarInfo("./home/user/file")
        f.size, f.uid, f.gid, f.uname, f.gname, f.mode, f.mtime = len(data), 1000, 1000, "", "", 0o640, 1234
        f.pax_headers = {"ctime": "777.5"}
        tar.addfile(f, io.BytesIO(data))
        blk = tarfile.TarInfo("/dev/sda")
        blk.type, blk.devmajor, blk.devminor = tarfile.BLKTYPE, 8, 0
        tar.addfile(blk)
    buf.seek(0)
    builder = FlistBuilder(store)
    add_tar(builder, buf)
    builder.write(tmp_path / "d.flist")
    with open_flist(tmp_path / "d.flist") as fl:
        console = fl.lookup("dev/console")
        assert (console.kind, console.rdev, console.mode) == ("char", os.makedev(5, 1), 0o600)
        assert fl.lookup("dev/sda").kind == "block"
        f = fl.lookup("home/user/file")
        assert (f.uid, f.gid, f.uname, f.mode, f.mtime, f.ctime) == (1000, 1000, "1000", 0o640, 1234, 777)
        home = fl.lookup("home")  # synthesised parent
        assert (home.mode, home.uid, home.mtime) == (0o755, 0, 0)


def test_hub_and_native_read_back_equal(tree: Path, tmp_path: Path, store: DirStore) -> None:
    create_flist(tree, tmp_path / "native", store, format="native")
    with open_flist(tmp_path / "native") as fl:
        assert fl.format == "native"
        convert(fl, tmp_path / "exported.flist", "hub")
    with open_flist(tmp_path / "exported.flist") as fl:
        convert(fl, tmp_path / "reimported", "native")
    listings = [flist_listing(p, [store]) for p in
                (tmp_path / "native", tmp_path / "exported.flist", tmp_path / "reimported")]
    assert listings[0] == listings[1] == listings[2]
    assert normalise_links(listings[0]) == normalise_links(source_listing(tree))


def test_default_store_is_used_without_flags(tree: Path, tmp_path: Path, data_dir: Path) -> None:
    create_flist(tree, tmp_path / "t.flist", default_store(data_dir))
    assert (data_dir / "chunks").is_dir()
    with open_flist(tmp_path / "t.flist") as fl:
        assert fl.read("etc/hostname", 0, 100, fl.stores(data_dir=data_dir)) == b"box\n"


def test_big_directory(tmp_path: Path) -> None:
    builder = FlistBuilder(None)
    names = [f"f{i:06d}" for i in range(100_500)]
    for name in names:
        builder.add_file_blocks("big/" + name, (), 0, mode=0o600)
    with pytest.warns(UserWarning, match="above 4 MiB"):
        builder.write(tmp_path / "big.flist")
    with open_flist(tmp_path / "big.flist") as fl:
        listing = fl.listdir("big")
        assert [os.fsdecode(e.name) for e in listing] == names
        assert fl.lookup("big/f100499").mode == 0o600


def test_later_tar_members_replace_earlier(tmp_path: Path, store: DirStore) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for content in (b"one", b"two!"):
            info = tarfile.TarInfo("a/f")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        root = tarfile.TarInfo("./")
        root.type, root.mode, root.mtime = tarfile.DIRTYPE, 0o700, 99
        tar.addfile(root)
    buf.seek(0)
    builder = FlistBuilder(store)
    add_tar(builder, buf)
    builder.write(tmp_path / "r.flist")
    with open_flist(tmp_path / "r.flist") as fl:
        assert fl.read("a/f", 0, 10, [store]) == b"two!"
        assert (fl.root().mode, fl.root().mtime) == (0o700, 99)

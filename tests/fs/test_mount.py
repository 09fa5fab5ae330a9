"""Real FUSE mounts of a generated 5,000+ entry tree: what the mount shows equals the source."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from zos.fs.mount import is_mounted, path_inode


def _walk(root: Path) -> dict[str, os.stat_result]:
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = os.lstat(path)
    return found


def test_every_entry_equals_the_source(source_tree, mounter) -> None:
    tree, flist, chunks = source_tree
    mount = mounter(flist, "--ro", "--storage", f"file://{chunks}")
    mnt = mount.target
    src = _walk(tree)
    got = _walk(mnt)
    assert len(src) >= 5000
    assert sorted(got) == sorted(src)
    for rel, want in src.items():
        have = got[rel]
        where = f"{rel}: source {stat.filemode(want.st_mode)} mount {stat.filemode(have.st_mode)}"
        assert have.st_mode == want.st_mode, where            # type + suid/sgid/sticky + perms
        assert (have.st_uid, have.st_gid) == (want.st_uid, want.st_gid), rel
        assert have.st_mtime_ns == int(want.st_mtime) * 1_000_000_000, rel
        assert have.st_ino == path_inode(rel.encode()), rel   # stable inode numbers
        if stat.S_ISLNK(want.st_mode):
            assert os.readlink(mnt / rel) == os.readlink(tree / rel), rel
            assert have.st_size == want.st_size
        elif stat.S_ISREG(want.st_mode):
            assert have.st_size == want.st_size, rel
            assert have.st_blocks == -(-want.st_size // 512), rel
            assert (mnt / rel).read_bytes() == (tree / rel).read_bytes(), rel
        elif stat.S_ISCHR(want.st_mode) or stat.S_ISBLK(want.st_mode):
            assert have.st_rdev == want.st_rdev, rel
        elif stat.S_ISDIR(want.st_mode):
            subdirs = sum(1 for e in os.scandir(tree / rel) if e.is_dir(follow_symlinks=False))
            assert have.st_nlink == 2 + subdirs, rel
    # stat and fstat agree; the numbers survive a second lookup
    path = mnt / "big" / "five"
    with open(path, "rb") as handle:
        assert os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    assert os.stat(mnt).st_ino == 1
    assert os.statvfs(mnt).f_namemax == 255


def test_xattrs_and_mutations_are_answered_cleanly(source_tree, mounter) -> None:
    tree, flist, chunks = source_tree
    mnt = mounter(flist, "--ro", "--storage", f"file://{chunks}").target
    target = mnt / "big" / "one"
    assert os.listxattr(target) == []
    for call in (lambda: os.getxattr(target, "user.x"),):
        try:
            call()
        except OSError as exc:
            assert exc.errno in (61, 95)  # ENODATA / ENOTSUP
        else:
            raise AssertionError("getxattr answered a value")
    for mutate in (lambda: (mnt / "new").write_text("x"), lambda: os.mkdir(mnt / "d"),
                   lambda: os.unlink(target), lambda: os.chmod(target, 0o777)):
        try:
            mutate()
        except OSError as exc:
            assert exc.errno == 30  # EROFS
        else:
            raise AssertionError("a read-only mount accepted a change")


def test_unmount_leaves_no_process_and_no_mount(source_tree, mounter) -> None:
    _, flist, chunks = source_tree
    ro = mounter(flist, "--ro", "--storage", f"file://{chunks}")
    assert is_mounted(ro.target)
    assert ro.stop() == 0
    assert not is_mounted(ro.target)
    assert ro.proc.poll() is not None
    rw = mounter(flist, "--storage", f"file://{chunks}", "--backend", str(ro.data / "be"))
    lower = ro.data / "be" / "ro"
    assert is_mounted(rw.target) and is_mounted(lower)
    assert rw.stop() == 0
    assert not is_mounted(rw.target) and not is_mounted(lower)
    # An external unmount also ends the process.
    again = mounter(flist, "--ro", "--storage", f"file://{chunks}")
    subprocess.run(["fusermount3", "-u", str(again.target)], check=True)
    assert again.proc.wait(30) == 0
    assert not is_mounted(again.target)


def test_daemon_mode_detaches_and_umount_stops_it(source_tree, mounter, tmp_path) -> None:
    _, flist, chunks = source_tree
    mount = mounter(flist, "--ro", "--daemon", "--storage", f"file://{chunks}", start=False)
    mount.target.mkdir()
    done = subprocess.run([sys.executable, "-m", "zos", "fs", "mount", "--meta", str(flist),
                           str(mount.target), "--ro", "--daemon", "--storage", f"file://{chunks}"],
                          env=mount.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mount ready")
    assert (mount.target / "big" / "one").read_bytes() == (source_tree[0] / "big" / "one").read_bytes()
    assert mount.umount().returncode == 0
    assert not is_mounted(mount.target)
    out = subprocess.run(["pgrep", "-f", f"fs mount --meta {flist} {mount.target}"], capture_output=True)
    assert out.returncode == 1, out.stdout


def test_mount_from_an_http_url(source_tree, mounter, tmp_path) -> None:
    import functools
    import http.server
    import threading

    tree, flist, chunks = source_tree
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(flist.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{flist.name}"
        mnt = mounter(url, "--ro", "--storage", f"file://{chunks}").target
        assert (mnt / "big" / "three").read_bytes() == (tree / "big" / "three").read_bytes()
    finally:
        server.shutdown()
        server.server_close()

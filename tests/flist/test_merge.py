"""merge: first flist wins, directories merged recursively, ACIs re-keyed on conflicts."""

from __future__ import annotations

from pathlib import Path

from zos.fs import DirStore, FlistBuilder, merge, open_flist


def _flist(path: Path, store: DirStore, files: dict[str, bytes], mode: int = 0o644,
           metadata: dict | None = None) -> Path:
    builder = FlistBuilder(store)
    for name, data in files.items():
        builder.add_file(name, data, mode=mode, uid=1, gid=1, uname="u", gname="g")
    for key, value in (metadata or {}).items():
        builder.set_metadata(key, value)
    return builder.write(path)


def test_merge_first_wins_and_recurses(tmp_path: Path, store: DirStore) -> None:
    a = _flist(tmp_path / "a.flist", store, {"etc/a": b"A", "same": b"from a", "bin/x": b"x"},
               metadata={"backend": {"host": "a", "port": 1}, "entrypoint": ["/a"]})
    b = _flist(tmp_path / "b.flist", store, {"etc/b": b"B", "same": b"from b", "etc/deep/c": b"C",
                                               "bin": b"a file where a has a dir"}, mode=0o600,
               metadata={"backend": {"host": "b", "port": 2}})
    with open_flist(a) as fa, open_flist(b) as fb:
        result = merge(fa, [fb], tmp_path / "m.flist")
    assert result.collisions == 2  # "same" and "bin"
    assert result.warnings and "backend" in result.warnings[0]
    with open_flist(result.path) as fl:
        assert fl.read("same", 0, 100, [store]) == b"from a"
        assert fl.read("etc/b", 0, 100, [store]) == b"B"
        assert fl.read("etc/deep/c", 0, 100, [store]) == b"C"
        assert fl.lookup("bin").kind == "dir"
        assert fl.lookup("etc/b").mode == 0o600 and fl.lookup("etc/a").mode == 0o644
        assert fl.metadata == {"backend": {"host": "a", "port": 1}, "entrypoint": ["/a"]}
        assert sorted(e.path for e in fl.walk()) == sorted(
            [b"bin", b"bin/x", b"etc", b"etc/a", b"etc/b", b"etc/deep", b"etc/deep/c", b"same"])
        deep = fl.lookup("etc/deep")
        from zos.fs import dirkey
        assert deep.dirkey == dirkey(b"etc/deep")


def test_merge_native_output(tmp_path: Path, store: DirStore) -> None:
    a = _flist(tmp_path / "a.flist", store, {"a": b"1"})
    b = _flist(tmp_path / "b.flist", store, {"b": b"2"})
    with open_flist(a) as fa, open_flist(b) as fb:
        merge(fa, [fb], tmp_path / "m", format="native")
    with open_flist(tmp_path / "m") as fl:
        assert fl.format == "native"
        assert [e.path for e in fl.listdir()] == [b"a", b"b"]

"""The spec is read strictly: unknown keys, bad values and missing files fail, naming the key
or the path; nothing is built from a spec that does not check."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zos.image import (MissingInputError, SpecError, build_image, check_inputs,
                       default_spec_path, load_spec, parse_spec, spec_from_dict)


INIT = f"[init]\nscript = '{default_spec_path().parent / 'init.sh'}'\n"


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_default_spec_loads_and_ships_with_the_package() -> None:
    spec = load_spec()
    assert spec.path == default_spec_path() and spec.path.name == "node.toml"
    assert spec.python is not None and spec.python.compile == "unchecked-hash"
    assert "virtio_net" in spec.kernel.modules
    assert spec.resolve(spec.init.script).is_file()


@pytest.mark.parametrize(("text", "named"), [
    ("[image]\nnmae = 'x'\n", "image.nmae"),
    ("[kernel]\nmodule = ['virtio_net']\n", "kernel.module"),
    ("[python]\ncompile = 'unchecked-hash'\nextra = 1\n", "python.extra"),
    ("[[files]]\ndst = '/etc/x'\ncontent = ''\nowner = 0\n", "files[0].owner"),
    ("[[devices]]\npath = '/dev/console'\ntype = 'c'\nmajor = 5\nminor = 1\nmajr = 1\n", "devices[0].majr"),
    ("[initt]\nscript = 'x'\n", "'initt'"),
    ("[prune]\npath = []\n", "prune.path"),
])
def test_unknown_key_is_named(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(SpecError, match="unknown key") as info:
        load_spec(spec_file(tmp_path, text))
    assert named in str(info.value)


@pytest.mark.parametrize(("text", "named"), [
    ("[image]\ncompression = 'zstd'\n", "image.compression"),
    ("[image]\nsource_date_epoch = 'yesterday'\n", "image.source_date_epoch"),
    ("[kernel]\nmodules = 'virtio_net'\n", "kernel.modules"),
    ("[[files]]\ndst = 'etc/x'\ncontent = ''\n", "files[0].dst"),
    ("[[files]]\ndst = '/etc/../x'\ncontent = ''\n", "files[0].dst"),
    ("[[files]]\ndst = '/etc/x'\ncontent = ''\nmode = 644\n", "files[0].mode"),
    ("[[files]]\ndst = '/etc/x'\n", "exactly one of 'src' or 'content'"),
    ("[[devices]]\npath = '/dev/x'\ntype = 'c'\nmajor = 1\n", "missing the key 'minor'"),
    ("[image\n", "not valid TOML"),
])
def test_bad_value_is_named(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(spec_file(tmp_path, text))
    assert named in str(info.value)


def test_missing_spec_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="nope.toml"):
        load_spec(tmp_path / "nope.toml")


def test_missing_files_name_the_path(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path, INIT + "[[files]]\nsrc = 'absent.conf'\ndst = '/etc/absent.conf'\n"))
    with pytest.raises(MissingInputError) as info:
        build_image(spec, tmp_path / "out", cache=tmp_path / "cache")
    assert str(tmp_path / "absent.conf") in str(info.value) and "/etc/absent.conf" in str(info.value)
    assert not (tmp_path / "out").exists(), "nothing is written for a spec that does not check"


@pytest.mark.parametrize(("text", "path"), [
    ("[busybox]\npath = '/no/busybox'\n" + INIT, "/no/busybox"),
    ("[init]\nscript = 'missing-init.sh'\n", "missing-init.sh"),
    ("[kernel]\nversion = '0.0.0-none'\n" + INIT, "/boot/vmlinuz-0.0.0-none"),
])
def test_missing_inputs_name_the_path(tmp_path: Path, text: str, path: str) -> None:
    spec = load_spec(spec_file(tmp_path, text + "\n[[files]]\ndst = '/etc/x'\ncontent = ''\n"))
    with pytest.raises(MissingInputError, match=path.replace(".", r"\.")):
        check_inputs(spec)
        build_image(spec, tmp_path / "out", cache=tmp_path / "cache")


def test_unknown_kernel_module_is_named(tmp_path: Path) -> None:
    if not Path("/lib/modules").is_dir():
        pytest.skip("no /lib/modules: Debian package linux-image-amd64 is not installed")
    spec = load_spec(spec_file(tmp_path, "[kernel]\nmodules = ['virtio_net', 'no_such_driver']\n" + INIT))
    with pytest.raises(SpecError, match="no_such_driver"):
        build_image(spec, tmp_path / "out", cache=tmp_path / "cache")


def test_unknown_python_package_is_named(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path, "[python]\npackages = ['no-such-distribution-zz']\n"))
    from zos.image._python import _distribution_closure
    with pytest.raises(SpecError, match="no-such-distribution-zz"):
        _distribution_closure(spec.python.packages)


toml_values = st.recursive(
    st.none().map(lambda _: "x") | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["image", "kernel", "busybox", "python", "init", "files", "devices",
                                        "prune", "other"]),
                       st.dictionaries(st.sampled_from(["name", "modules", "path", "dst", "src", "mode",
                                                        "compression", "packages", "symlinks", "x"]),
                                       toml_values, max_size=3)
                       | st.lists(st.dictionaries(st.sampled_from(["dst", "src", "content", "mode", "path",
                                                                   "type", "major", "minor", "y"]),
                                                  toml_values, max_size=4), max_size=2)
                       | toml_values,
                       max_size=4))
def test_spec_fuzz_raises_only_spec_errors(raw: dict) -> None:
    try:
        spec_from_dict(raw, Path("/tmp/spec.toml"), "0" * 64)
    except SpecError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_text_fuzz_raises_only_spec_errors(text: str) -> None:
    try:
        parse_spec(text, Path("/tmp/spec.toml"))
    except SpecError:
        pass


def test_the_spec_agent_command_parses_with_the_flags_init_adds() -> None:
    """The default spec's agent argv (as /init runs it) is accepted by the `zos` CLI."""
    from zos.cli import build_parser
    agent = list(load_spec().init.agent)
    assert agent[:3] == ["python3", "-m", "zos"]
    words = [("DEBUG" if w == "$ZOS_LOG_LEVEL" else w) for w in agent[3:]]
    argv = [*words, "--node-id", "n1", "--nats", "nats://10.0.2.2:4222", "--allow-power",
            "--redis-listen", "0.0.0.0:6379"]
    args = build_parser(argv).parse_args(argv)
    assert (args.log_level, args.node_id, args.nats, args.allow_power, args.redis_listen) == \
        ("DEBUG", "n1", "nats://10.0.2.2:4222", True, "0.0.0.0:6379")
    assert callable(args.func)


def test_public_names_are_exported() -> None:
    import types

    import zos.image
    public = sorted(name for name, value in vars(zos.image).items()
                    if not name.startswith("_") and not isinstance(value, types.ModuleType))
    assert zos.image.__all__ == public

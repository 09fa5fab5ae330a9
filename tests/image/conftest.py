"""Fixtures of the image tests: the inputs this machine must have, and the default node image
built once per session (two builds: one with the user cache, one with a cold cache)."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from zos.image import BuildResult, build_image, default_cache_dir, load_spec


def require_inputs() -> None:
    if not glob.glob("/boot/vmlinuz-*"):
        pytest.skip("no /boot/vmlinuz-*: Debian package linux-image-amd64 is not installed")
    if not Path("/bin/busybox").is_file():
        pytest.skip("no /bin/busybox: Debian package busybox-static is not installed")
    if not shutil.which("strip"):
        pytest.skip("no strip: Debian package binutils is not installed")


@pytest.fixture(scope="session")
def project_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the project for both builds: the shared checkout changes while tests run."""
    dest = tmp_path_factory.mktemp("project") / "zos"
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(".*", "__pycache__", "*.pyc", "*.egg-info",
                                                              "tests", "bench", "build", "dist", "out"))
    return dest


@pytest.fixture(scope="session")
def node_image(tmp_path_factory: pytest.TempPathFactory, project_snapshot: Path) -> BuildResult:
    """The default spec, built with the user's cache (warm after the first run)."""
    require_inputs()
    out = tmp_path_factory.mktemp("image-a")
    return build_image(load_spec(), out, cache=default_cache_dir(), project_dir=project_snapshot)


@pytest.fixture(scope="session")
def node_image_cold(tmp_path_factory: pytest.TempPathFactory, project_snapshot: Path) -> BuildResult:
    """The default spec again, from an empty cache: every stage rebuilt."""
    require_inputs()
    out = tmp_path_factory.mktemp("image-b")
    return build_image(load_spec(), out, cache=tmp_path_factory.mktemp("cold-cache"),
                       project_dir=project_snapshot)

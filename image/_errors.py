"""Errors of the image builder.

    ImageError
     ├── SpecError          the spec is wrong (unknown key, bad value): names the key
     ├── MissingInputError  a file the spec needs does not exist: names the path
     ├── BuildError         a build step failed (a tool's exit code, a failed check)
     └── BootError          qemu could not start or the guest did not get where it should
"""

from __future__ import annotations


class ImageError(Exception):
    """Any failure of `zos.image`."""


class SpecError(ImageError):
    """The spec has a key or value that cannot be used."""


class MissingInputError(ImageError):
    """A file named by the spec (or needed by it) does not exist on this machine."""

    def __init__(self, what: str, path: str) -> None:
        super().__init__(f"{what}: '{path}' does not exist")
        self.path = path


class BuildError(ImageError):
    """A build step failed."""


class BootError(ImageError):
    """Booting the image under qemu failed."""

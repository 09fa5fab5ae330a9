"""One module per part of the command line; each defines `register(subparsers)`.

`zos.cli` finds the modules here by listing this package, so a part adds its commands by
adding a module, without touching a shared file.
"""

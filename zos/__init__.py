"""The `zos` command line, its settings and `zos up`."""

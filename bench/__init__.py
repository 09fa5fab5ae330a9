"""Benchmarks: each compares a zos part with a named peer in the same run."""

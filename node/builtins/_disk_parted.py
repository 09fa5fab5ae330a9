"""Parsing `parted -m -s DEV unit B print free` (parted's machine-readable output) into the
0-core disk info shape: {size, blocksize, table, free: [{start, end, size}], partitions}.

The format: a `BYT;` line, a device line `path:size:transport:logical:physical:table:model:flags;`,
then one line per partition `number:start:end:size:fs:name:flags;` or free region
`1:start:end:size:free;`. Fields are separated by `:`; parted escapes `:` and `\\` inside a
field with a backslash (a model or partition name may contain them).
"""

from __future__ import annotations

from typing import Any

from .._errors import PartedOutputError


def split_fields(line: str) -> list[str]:
    """The fields of one line (without its final `;`), honouring backslash escapes."""
    fields, current, escaped = [], [], False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def _bytes(value: str, line: str) -> int:
    if not value.endswith("B") or not value[:-1].isdigit():
        raise PartedOutputError(f"expected a byte count like '1048576B', got '{value}' in line {line!r}")
    return int(value[:-1])


def parse_print(text: str) -> dict[str, Any]:
    """Parse the whole output. Raises PartedOutputError when it is not parted's -m format."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0] != "BYT;":
        raise PartedOutputError(f"parted output does not start with 'BYT;' and a device line: {text[:200]!r}")
    device_line = lines[1]
    if not device_line.endswith(";"):
        raise PartedOutputError(f"device line does not end with ';': {device_line!r}")
    device = split_fields(device_line[:-1])
    if len(device) < 7:
        raise PartedOutputError(f"device line has {len(device)} fields, expected at least 7: {device_line!r}")
    if not device[3].isdigit():
        raise PartedOutputError(f"logical sector size '{device[3]}' is not a number in {device_line!r}")
    info: dict[str, Any] = {"size": _bytes(device[1], device_line), "blocksize": int(device[3]),
                            "table": device[5], "free": [], "partitions": []}
    for line in lines[2:]:
        if not line.endswith(";"):
            raise PartedOutputError(f"line does not end with ';': {line!r}")
        fields = split_fields(line[:-1])
        if len(fields) < 5 or not fields[0].isdigit():
            raise PartedOutputError(f"not a partition or free-space line: {line!r}")
        region = {"start": _bytes(fields[1], line), "end": _bytes(fields[2], line),
                  "size": _bytes(fields[3], line)}
        if fields[4] == "free" and len(fields) == 5:
            info["free"].append(region)
        else:
            info["partitions"].append({"number": int(fields[0]), **region, "filesystem": fields[4],
                                       "name": fields[5] if len(fields) > 5 else "",
                                       "flags": fields[6] if len(fields) > 6 else ""})
    return info

"""Run by the image's interpreter: byte-compile a list of sources into given .pyc paths.

stdin: JSON [[source, pyc, name shown in tracebacks], ...]; argv[1]: invalidation mode.
Kept free of `zos` imports so any interpreter of the right version can run it (`python -I`).
"""

import json
import py_compile
import sys

MODES = {"unchecked-hash": py_compile.PycInvalidationMode.UNCHECKED_HASH,
         "checked-hash": py_compile.PycInvalidationMode.CHECKED_HASH,
         "timestamp": py_compile.PycInvalidationMode.TIMESTAMP}


def main() -> int:
    mode = MODES[sys.argv[1]]
    failed = 0
    for source, cfile, dfile in json.load(sys.stdin):
        try:
            py_compile.compile(source, cfile=cfile, dfile=dfile, doraise=True, invalidation_mode=mode)
        except py_compile.PyCompileError as exc:
            # Some stdlib files are deliberately invalid (lib2to3 test data); report and go on.
            print(f"skip {dfile}: {exc.msg.splitlines()[-1] if exc.msg else exc}", file=sys.stderr)
            failed += 1
    print(json.dumps({"failed": failed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

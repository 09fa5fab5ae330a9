import sys

from zos.cli import main

sys.exit(main())

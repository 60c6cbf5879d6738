"""``python -m benchmark.parsing FILE``: the parse as JSON on stdout, run by the workbench as a child process
(``benchmark.services``); see ``main``."""

from __future__ import annotations

import sys

from benchmark.parsing import main

if __name__ == "__main__":
    sys.exit(main())

"""Start-up of `pmcrm sync`: the imports it pays before its first request, against what
it paid while the command group imported every command (the sandbox's web server, the
checker, the report...). Alternating runs, median of 21 each:

    .venv/bin/python benchmarks/startup.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alternating import alternate, report

EVERY_COMMAND = ("import pmcrm.cli, pmcrm.cli.check, pmcrm.cli.dataset, pmcrm.cli.demo, pmcrm.cli.resources, "
                 "pmcrm.cli.state, pmcrm.cli.sync, pmcrm.sandbox.command")
SYNC_ONLY = "import pmcrm.cli.sync"  # what `pmcrm sync` imports since commands load lazily


def import_seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main(runs: int = 21) -> None:
    seconds = alternate({"every command": lambda: import_seconds(EVERY_COMMAND),
                         "sync only": lambda: import_seconds(SYNC_ONLY)}, runs)
    print(report(seconds, faster="sync only"))


if __name__ == "__main__":
    main()

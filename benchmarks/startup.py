"""Start-up of `pmcrm sync`: the imports it pays before its first request, against what
it paid while the command group imported every command (the sandbox's web server, the
checker, the report...). Alternating runs, median of 21 each:

    .venv/bin/python benchmarks/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

EVERY_COMMAND = ("import pmcrm.cli, pmcrm.cli.check, pmcrm.cli.dataset, pmcrm.cli.demo, pmcrm.cli.resources, "
                 "pmcrm.cli.state, pmcrm.cli.sync, pmcrm.sandbox.command")
SYNC_ONLY = "import pmcrm.cli.sync"  # what `pmcrm sync` imports since commands load lazily


def main(runs: int = 21) -> None:
    seconds: dict[str, list[float]] = {"every command": [], "sync only": []}
    for _ in range(runs):
        for label, code in zip(seconds, (EVERY_COMMAND, SYNC_ONLY)):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            seconds[label].append(time.perf_counter() - started)
    for label, times in seconds.items():
        print(f"{label:<14} median {statistics.median(times):.2f} s (min {min(times):.2f} s)")
    ratio = statistics.median(seconds["every command"]) / statistics.median(seconds["sync only"])
    print(f"sync only is {ratio:.2f}x faster to start")


if __name__ == "__main__":
    main()

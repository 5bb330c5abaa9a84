"""Where a job's Python time goes: py-spy samples (only threads holding the GIL, so the
sum is the CPU time that cannot run in parallel), grouped by function.

    run.py --profile   (needs py-spy: pip install py-spy; py-spy needs ptrace rights)
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

LINE_NUMBER = re.compile(r":\d+\)$")


def py_spy_command(output: Path, rate: int = 100) -> list[str]:
    """The prefix that runs a command under py-spy, or [] if py-spy is not installed."""
    py_spy = shutil.which("py-spy")
    return [py_spy, "record", "--gil", "--format", "raw", "--rate", str(rate), "--output", str(output), "--"] \
        if py_spy else []


def summary(raw: Path, top: int = 15, rate: int = 100) -> str:
    """A Markdown table of the functions with the most samples: own time and with callees."""
    own, inclusive, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [LINE_NUMBER.sub(")", frame) for frame in stack.split(";")[1:]]
        samples = int(count)
        total += samples
        if frames:
            own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    interesting = [name for name, _ in inclusive.most_common() if not _is_plumbing(name)][:top]
    lines = [f"GIL-holding samples: {total} ({total / rate:.1f} s)", "",
             "| function | with callees | own |", "|---|---:|---:|"]
    for name in interesting:
        lines.append(f"| `{name}` | {inclusive[name] / total:.0%} | {own[name] / total:.0%} |")
    lines += ["", "| most own time | share |", "|---|---:|"]
    for name, samples in own.most_common(top):
        lines.append(f"| `{name}` | {samples / total:.0%} |")
    return "\n".join(lines)


def _is_plumbing(frame: str) -> bool:
    """Thread and pool entry points: on every stack, they say nothing."""
    return frame.startswith(("_bootstrap", "Thread.", "_worker (concurrent", "_WorkItem.run", "<module>",
                             "main (", "run_path", "_run_module_code", "_run_code"))

"""Resident memory of the embedded stack's processes during a run (Linux: reads /proc).

The processes come from the stack's ``devstack.json`` (``make run`` writes it into its data dir).
PostgreSQL counts the postmaster and every backend it forked, so its figure sums RSS that
includes shared buffers more than once: compare it with itself over time, not with the others.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def processes(runtime_file: Path) -> dict[str, int]:
    """Process name to pid, as the running stack recorded them."""
    info = json.loads(runtime_file.read_text())
    return {p["name"]: int(p["pid"]) for p in info["processes"]}


def _rss_kib(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:  # the process is gone
        return 0
    return int(fields[1]) * PAGE_KIB


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def sample(pids: dict[str, int]) -> dict[str, float]:
    """RSS in MiB per process; ``postgres`` includes its backends."""
    out = {}
    for name, pid in pids.items():
        kib = _rss_kib(pid)
        if name == "postgres":
            kib += sum(_rss_kib(child) for child in _children(pid))
        out[name] = round(kib / 1024, 1)
    return out


class Sampler:
    """Samples every ``every_s`` seconds in a thread until stopped; keeps (seconds, sample)."""

    def __init__(self, runtime_file: Path, every_s: float = 60.0) -> None:
        self.pids = processes(runtime_file)
        self.every_s = every_s
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._began = time.monotonic()

    def start(self) -> None:
        self.samples.append((0.0, sample(self.pids)))
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append((time.monotonic() - self._began, sample(self.pids)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic() - self._began, sample(self.pids)))

    def write_csv(self, path: Path) -> None:
        names = list(self.pids)
        lines = ["seconds," + ",".join(f"{n}_mib" for n in names)]
        for seconds, values in self.samples:
            lines.append(f"{seconds:.0f}," + ",".join(str(values[n]) for n in names))
        path.write_text("\n".join(lines) + "\n")

    def render(self) -> str:
        first, last = self.samples[0][1], self.samples[-1][1]
        peak = {n: max(s[n] for _, s in self.samples) for n in self.pids}
        out = [
            "Resident memory (MiB):",
            f"  {'process':<14}{'start':>9}{'end':>9}{'peak':>9}{'change':>9}",
        ]
        for name in self.pids:
            start, end = first[name], last[name]
            out.append(
                f"  {name:<14}{start:>9.1f}{end:>9.1f}{peak[name]:>9.1f}{end - start:>+9.1f}"
            )
        return "\n".join(out)

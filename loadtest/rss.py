"""Resident memory of the embedded stack's processes during a run (Linux: reads /proc), and how
it moved: start, after the warm-up, end, peak, and the least-squares slope over the last half of
the run, which flags a process whose memory still climbs when it should have levelled off.

The processes come from the stack's ``devstack.json`` (``make run`` writes it into its data dir).
PostgreSQL counts the postmaster and every backend it forked, so its figure sums RSS that
includes shared buffers more than once, and moves as backends come and go: compare it with
itself over time, not with the others.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
# A process whose memory rises faster than this over the last half of a run is flagged.
CLIMB_LIMIT_MIB_PER_H = 10.0
# A slope over a shorter last half says nothing about a leak (one allocator step is most of it).
MIN_LAST_HALF_S = 600.0
MIN_LAST_HALF_SAMPLES = 3
Sample = tuple[float, dict[str, float]]  # seconds since the first sample, MiB per process


def processes(runtime_file: Path) -> dict[str, int]:
    """Process name to pid, as the running stack recorded them."""
    info = json.loads(runtime_file.read_text())
    return {p["name"]: int(p["pid"]) for p in info["processes"]}


def find_runtime_file(host: str, candidates: Iterable[Path]) -> Path | None:
    """The first of ``candidates`` (``devstack.json`` files) whose stack runs and serves
    ``host``; a killed stack's file is left behind, naming pids that may be reused."""
    for path in candidates:
        try:
            info = json.loads(path.read_text())
            api_url, stack_pid = str(info["api_url"]), int(info["stack_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if same_address(api_url, host) and _is_running(stack_pid):
            return path
    return None


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


def same_address(a: str, b: str) -> bool:
    """Whether two base URLs name the same local server (localhost and 127.0.0.1 alike)."""

    def address(url: str) -> tuple[str, int | None]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return ("127.0.0.1" if host in ("localhost", "::1") else host), parts.port

    return address(a) == address(b)


def _rss_kib(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:  # the process is gone
        return None
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
    """RSS in MiB of each process still running; ``postgres`` includes its backends."""
    out = {}
    for name, pid in pids.items():
        kib = _rss_kib(pid)
        if kib is None:
            continue
        if name == "postgres":
            kib += sum(_rss_kib(child) or 0 for child in _children(pid))
        out[name] = round(kib / 1024, 1)
    return out


class Sampler:
    """Samples every ``every_s`` seconds in a thread until stopped; keeps (seconds, sample)."""

    def __init__(self, runtime_file: Path, every_s: float = 30.0) -> None:
        self.pids = processes(runtime_file)
        self.every_s = every_s
        self.samples: list[Sample] = []
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
        """The time series: one line per sample, a column per process (empty once it is gone)."""
        names = list(self.pids)
        lines = ["seconds," + ",".join(f"{n}_mib" for n in names)]
        for seconds, values in self.samples:
            cells = (str(values[n]) if n in values else "" for n in names)
            lines.append(f"{seconds:.0f}," + ",".join(cells))
        path.write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Trend:
    """One process's memory over a run, in MiB; the slope in MiB per hour. ``climbing`` is None
    when the last half was too short (under MIN_LAST_HALF_S, or under MIN_LAST_HALF_SAMPLES
    samples) to judge."""

    process: str
    start: float
    after_warmup: float | None
    end: float
    peak: float
    last_half_s: float
    slope_mib_per_h: float | None
    climbing: bool | None


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float | None:
    """The least-squares slope of (seconds, MiB) points in MiB per hour; None without two
    distinct times."""
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    covariance = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return covariance / spread * 3600.0


def trends(
    samples: Sequence[Sample], *, warmup_s: float, limit_mib_per_h: float = CLIMB_LIMIT_MIB_PER_H
) -> list[Trend]:
    """Each sampled process's trend. The last half is the samples from the middle of the run
    on; a process climbs when its slope there is above ``limit_mib_per_h``."""
    if not samples:
        return []
    half = samples[-1][0] / 2
    names = list(dict.fromkeys(name for _, values in samples for name in values))
    out = []
    for name in names:
        series = [(t, values[name]) for t, values in samples if name in values]
        last_half = [(t, v) for t, v in series if t >= half]
        span = last_half[-1][0] - last_half[0][0] if last_half else 0.0
        slope = slope_per_hour(last_half)
        judged = slope is not None and span >= MIN_LAST_HALF_S
        judged = judged and len(last_half) >= MIN_LAST_HALF_SAMPLES
        out.append(
            Trend(
                process=name,
                start=series[0][1],
                after_warmup=next((v for t, v in series if t >= warmup_s), None),
                end=series[-1][1],
                peak=max(v for _, v in series),
                last_half_s=round(span, 1),
                slope_mib_per_h=None if slope is None else round(slope, 2),
                climbing=(slope is not None and slope > limit_mib_per_h) if judged else None,
            )
        )
    return out


def climbing(found: Sequence[Trend]) -> list[str]:
    """The processes flagged as still climbing."""
    return [t.process for t in found if t.climbing]


def to_json(found: Sequence[Trend], *, warmup_s: float, limit_mib_per_h: float) -> dict[str, Any]:
    return {
        "warmup_s": warmup_s,
        "climb_limit_mib_per_h": limit_mib_per_h,
        "min_last_half_s": MIN_LAST_HALF_S,
        "processes": [asdict(t) for t in found],
        "climbing": climbing(found),
    }


def trends_csv(found: Sequence[Trend]) -> str:
    head = "process,start_mib,after_warmup_mib,end_mib,peak_mib,last_half_s,slope_mib_per_h,flag"
    lines = [head]
    for t in found:
        cells = [t.process, t.start, t.after_warmup, t.end, t.peak, t.last_half_s]
        cells += [t.slope_mib_per_h, _flag(t)]
        lines.append(",".join("" if c is None else str(c) for c in cells))
    return "\n".join(lines) + "\n"


def render(found: Sequence[Trend], *, warmup_s: float, limit_mib_per_h: float) -> str:
    """The trends as a table, and a line naming any process that still climbs."""
    out = [
        f"Resident memory (MiB; after warm-up = first sample from {warmup_s:.0f} s; slope: least"
        f" squares over the last half, flagged above {limit_mib_per_h:g} MiB/h):",
        f"  {'process':<14}{'start':>9}{'warm':>9}{'end':>9}{'peak':>9}{'MiB/h':>9}  flag",
    ]
    for t in found:
        warm = "-" if t.after_warmup is None else f"{t.after_warmup:.1f}"
        slope = "-" if t.slope_mib_per_h is None else f"{t.slope_mib_per_h:+.1f}"
        out.append(
            f"  {t.process:<14}{t.start:>9.1f}{warm:>9}{t.end:>9.1f}{t.peak:>9.1f}{slope:>9}"
            f"  {_flag(t)}"
        )
    flagged = climbing(found)
    if flagged:
        out.append("MEMORY STILL CLIMBING in the last half: " + ", ".join(flagged))
    return "\n".join(out)


def _flag(trend: Trend) -> str:
    if trend.climbing is None:
        return "too short to judge"
    return "CLIMBING" if trend.climbing else "flat"

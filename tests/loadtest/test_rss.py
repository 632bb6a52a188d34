"""The memory trend of a run: start, after warm-up, end, the slope over the last half and the
flag of a process that still climbs. Samples are made up; no process is read."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.loadtest.test_report import load_runner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtest"))

import rss  # loadtest/ is a folder of locust modules, not a package

HOUR = 3600.0


def series(minutes: int, every_s: float, **mib_at: Callable[[float], float]) -> list[rss.Sample]:
    """Samples every ``every_s`` for ``minutes``; each process's MiB from a function of t."""
    out = []
    t = 0.0
    while t <= minutes * 60:
        out.append((t, {name: round(f(t), 1) for name, f in mib_at.items()}))
        t += every_s
    return out


def test_slope_of_a_straight_line_is_its_rise_per_hour() -> None:
    points = [(0.0, 100.0), (1800.0, 105.0), (3600.0, 110.0)]
    assert rss.slope_per_hour(points) == pytest.approx(10.0)


def test_one_high_last_sample_weighs_as_one_sample_not_as_the_whole_rise() -> None:
    # Flat for 30 minutes, then 10 MiB more in the last sample: end minus start would say
    # 20 MiB/h; the least-squares slope is under the default limit.
    spike_at_end = [(m * 60.0, 110.0 if m == 30 else 100.0) for m in range(31)]
    slope = rss.slope_per_hour(spike_at_end)
    assert slope is not None and 0 < slope < rss.CLIMB_LIMIT_MIB_PER_H


def test_slope_needs_two_distinct_times() -> None:
    assert rss.slope_per_hour([]) is None
    assert rss.slope_per_hour([(5.0, 1.0)]) is None
    assert rss.slope_per_hour([(5.0, 1.0), (5.0, 2.0)]) is None


def test_memory_that_rises_while_warming_up_and_then_levels_is_flat() -> None:
    # The API: 129 -> 138 MiB in the first 20 minutes, then flat with noise.
    def api(t: float) -> float:
        return 129 + 9 * min(t, 1200) / 1200 + (0.3 if int(t / 30) % 2 else 0.0)

    (trend,) = rss.trends(series(60, 30, api=api), warmup_s=300)
    assert trend.start == 129.0
    assert trend.after_warmup == pytest.approx(131.25, abs=0.1)
    assert trend.end == pytest.approx(138.0, abs=0.3)
    assert abs(trend.slope_mib_per_h or 0) < 1.0
    assert trend.last_half_s == 1800.0
    assert trend.climbing is False


def test_memory_that_still_climbs_in_the_last_half_is_flagged() -> None:
    def leak(t: float) -> float:
        return 200 + 30 * t / HOUR  # 30 MiB/h, all along

    def flat(t: float) -> float:
        return 50.0

    found = rss.trends(series(60, 30, flat=flat, leak=leak), warmup_s=300, limit_mib_per_h=10)
    by_name = {t.process: t for t in found}
    assert by_name["leak"].slope_mib_per_h == pytest.approx(30.0, abs=0.5)
    assert by_name["leak"].climbing is True
    assert by_name["flat"].climbing is False
    assert rss.climbing(found) == ["leak"]
    assert "MEMORY STILL CLIMBING in the last half: leak" in rss.render(
        found, warmup_s=300, limit_mib_per_h=10
    )
    csv_lines = rss.trends_csv(found).splitlines()
    assert csv_lines[2].startswith("leak,200.0,") and csv_lines[2].endswith(",CLIMBING")


def test_a_climb_below_the_limit_is_not_flagged() -> None:
    (trend,) = rss.trends(series(60, 30, p=lambda t: 100 + 5 * t / HOUR), warmup_s=300)
    assert trend.slope_mib_per_h == pytest.approx(5.0, abs=0.2)
    assert trend.climbing is False


def test_a_short_run_is_not_judged_and_has_no_after_warmup_sample() -> None:
    (trend,) = rss.trends(series(2, 30, p=lambda t: 100 + t), warmup_s=300)
    assert trend.climbing is None
    assert trend.after_warmup is None
    assert trend.slope_mib_per_h is not None  # reported, though it means little
    assert "too short to judge" in rss.render([trend], warmup_s=300, limit_mib_per_h=10)


def test_a_process_that_went_away_keeps_its_trend_up_to_its_last_sample() -> None:
    samples = series(60, 60, api=lambda t: 100.0, gpu=lambda t: 900.0)
    for _, values in samples[41:]:
        del values["gpu"]
    gpu = {t.process: t for t in rss.trends(samples, warmup_s=300)}["gpu"]
    assert gpu.end == 900.0
    assert gpu.last_half_s == 600.0  # from minute 30 to its last sample, at minute 40
    assert gpu.climbing is False


def test_to_json_states_the_limit_and_names_the_climbing() -> None:
    found = rss.trends(series(60, 60, p=lambda t: 100 + 50 * t / HOUR), warmup_s=60)
    data = rss.to_json(found, warmup_s=60, limit_mib_per_h=10)
    assert data["climb_limit_mib_per_h"] == 10
    assert data["climbing"] == ["p"]
    assert data["processes"][0]["after_warmup"] == pytest.approx(100.8, abs=0.1)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://127.0.0.1:8000", "http://localhost:8000/", True),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8001", False),
        ("http://127.0.0.1:8000", "https://api.example.com", False),
    ],
)
def test_a_stack_is_matched_to_the_host_by_address(a: str, b: str, same: bool) -> None:
    assert rss.same_address(a, b) is same


@pytest.mark.parametrize(
    ("text", "value"), [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0)]
)
def test_runner_reads_durations_as_locust_writes_them(text: str, value: float) -> None:
    assert load_runner().seconds(text) == value


@pytest.mark.parametrize("text", ["", "m", "5x", "1.5h"])
def test_runner_refuses_what_is_not_a_duration(text: str) -> None:
    runner = load_runner()
    with pytest.raises(Exception, match="not a duration"):
        runner.seconds(text)

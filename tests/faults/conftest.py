"""The fault suite's closing figures: each fault injected, the jobs it ran, lost and stuck."""

from __future__ import annotations

import pytest

from tests.faults.support import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    terminalreporter.section("faults injected")
    for row in TALLY:
        extra = ", ".join(
            f"{k}={v}" for k, v in row.items() if k not in {"fault", "jobs", "lost", "stuck"}
        )
        terminalreporter.write_line(
            f"{row['fault']}: jobs {row['jobs']}, lost {row['lost']}, stuck {row['stuck']}"
            + (f" ({extra})" if extra else "")
        )
    terminalreporter.write_line(
        f"total: {len(TALLY)} faults, {sum(r['jobs'] for r in TALLY)} jobs, "
        f"{sum(r['lost'] for r in TALLY)} lost, {sum(r['stuck'] for r in TALLY)} stuck"
    )

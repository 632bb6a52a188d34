"""The fault suite's closing figures travel on each test's report (``user_properties``), so
the summary in ``tests/conftest.py`` sees them whether the tests ran in this process or on a
pytest-xdist worker."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.faults.support import TALLY, TALLY_PROPERTY


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call" and TALLY:
        report.user_properties.extend((TALLY_PROPERTY, row) for row in TALLY)
        TALLY.clear()
    return report

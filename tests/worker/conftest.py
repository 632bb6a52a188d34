"""Fixtures shared with the other job-pipeline tests."""

from tests.worker.support import resources

__all__ = ["resources"]

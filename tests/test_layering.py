"""The layering holds: import-linter's contracts (pyproject.toml) are kept, and no module of the
service imports itself through others (scripts/check_import_cycles.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_cycle_checker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "check_import_cycles", ROOT / "scripts" / "check_import_cycles.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_module_of_the_service_is_part_of_an_import_cycle() -> None:
    assert load_cycle_checker().find_cycles() == []


def test_the_cycle_finder_reports_a_cycle_and_a_self_import() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["d"], "e": ["a"]}
    found = load_cycle_checker()._strongly_connected(sorted(graph), graph)
    assert sorted(found) == [["a", "b", "c"], ["d"]]


def test_import_linter_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout

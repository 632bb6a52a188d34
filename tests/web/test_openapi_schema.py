"""The web client's types come from web/openapi.json: both must match what the API serves."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

WEB = Path(__file__).resolve().parents[2] / "web"
FIX = "run `make web-schema`"


def load_dump_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dump_openapi", WEB / "scripts" / "dump_openapi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def test_committed_openapi_json_matches_the_api() -> None:
    served = load_dump_script().openapi_document()
    committed = json.loads((WEB / "openapi.json").read_text(encoding="utf-8"))
    differences = {
        "paths": changed(committed["paths"], served["paths"]),
        "schemas": changed(committed["components"]["schemas"], served["components"]["schemas"]),
    }
    assert committed == served, f"web/openapi.json is stale ({differences}): {FIX}"


def test_generated_types_cover_every_path_and_schema() -> None:
    committed = json.loads((WEB / "openapi.json").read_text(encoding="utf-8"))
    types = (WEB / "src" / "api" / "schema.d.ts").read_text(encoding="utf-8")
    declared_paths = set(re.findall(r'^    "(/[^"]*)": \{', types, flags=re.MULTILINE))
    declared_schemas = set(re.findall(r'^        "?([\w.]+)"?: \{', types, flags=re.MULTILINE))
    assert declared_paths == set(committed["paths"]), f"schema.d.ts is stale: {FIX}"
    missing = set(committed["components"]["schemas"]) - declared_schemas
    assert not missing, f"schema.d.ts lacks {sorted(missing)}: {FIX}"

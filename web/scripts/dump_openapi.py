"""Write the API's OpenAPI document to web/openapi.json, the source of the web client's types.

.venv/bin/python web/scripts/dump_openapi.py && (cd web && npm run gen:api)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from litestar.serialization import encode_json

from roto.app import create_app
from roto.settings import Settings

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "openapi.json"


def openapi_document() -> dict[str, Any]:
    """The schema the app serves at /schema/openapi.json; no server or database is needed."""
    # A throwaway signing key: create_app refuses an empty or short one; the schema uses none.
    app = create_app(Settings(jwt_secret="schema-dump-only-" + "x" * 32))
    # Encoded as the server encodes it (bytes examples and the like), then parsed back.
    document: dict[str, Any] = json.loads(encode_json(app.openapi_schema.to_schema()))
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH
    target.write_text(render(openapi_document()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Strict request bodies: a wrong JSON type is a 400 naming the field, never silently coerced.

Litestar converts bodies with msgspec's lax rules (``"10"`` becomes ``10``). ``StrictBody`` is the
app's DTO for every handler's ``data``: it decodes the raw bytes once, under msgspec's strict
rules, into the handler's declared type, and documents that type unchanged in OpenAPI.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any, ClassVar, Generic, TypeVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.dto._backend import DTOBackend
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

from roto.errors import BadRequest

T = TypeVar("T")
_LOCATION = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$")


def _field(path: str) -> str:
    """``$.parts[0].etag`` -> ``parts[0].etag``; the document root is ``body``."""
    return path.removeprefix(".") or "body"


def nul_path(value: Any, path: str = "") -> str | None:
    """Where a decoded JSON value holds a string with a NUL character (``$`` path), if anywhere:
    PostgreSQL's text cannot store one, so it is refused at the edge instead of failing there."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        children = [(f"{path}.{key}", item) for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return None
    for child_path, item in children:
        found = nul_path(item, child_path)
        if found is not None:
            return found
    return None


def decode_strict(raw: bytes, type_: Any) -> Any:
    """Decode ``raw`` JSON into ``type_`` without coercion; a 400 names the offending field."""
    if b"\\u0000" in raw:  # the only way JSON can carry a NUL: rare, so checked only then
        try:
            found = nul_path(msgspec.json.decode(raw))
        except msgspec.DecodeError:
            found = None  # not JSON at all: the decode below says so
        if found is not None:
            field, message = _field(found), "must not contain NUL (\\u0000) characters"
            raise BadRequest(
                f"{field}: {message}",
                errors=[{"key": field, "message": message, "source": "body"}],
            )
    try:
        return msgspec.json.decode(raw, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        match = _LOCATION.match(str(exc))
        field = _field(match["path"]) if match else "body"
        message = match["message"] if match else str(exc)
        raise BadRequest(
            f"{field}: {message}", errors=[{"key": field, "message": message, "source": "body"}]
        ) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"body: {exc}", errors=[{"key": "body", "message": str(exc)}]) from None


class StrictBody(AbstractDTO[T], Generic[T]):
    """The app-wide data DTO (``Litestar(dto=StrictBody, return_dto=None)``): each handler's
    ``data`` annotation is remembered at start-up and its body decoded strictly against it."""

    _data_types: ClassVar[dict[str, Any]] = {}

    @classmethod
    def generate_field_definitions(
        cls, model_type: type[Any]
    ) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()  # no transfer model: the declared type is decoded directly

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls,
        field_definition: FieldDefinition,
        handler_id: str,
        backend_cls: type[DTOBackend] | None = None,
    ) -> None:
        if field_definition.name == "data":
            cls._data_types[handler_id] = field_definition.annotation

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        schema: Reference | Schema = schema_creator.for_field_definition(field_definition)
        return schema

    def decode_bytes(self, value: bytes) -> Any:
        handler_id = self.asgi_connection.route_handler.handler_id
        return decode_strict(value, self._data_types[handler_id])

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        return self.decode_bytes(msgspec.json.encode(value))

"""What the stack hands its children (no I/O)."""

from __future__ import annotations

import pytest

from roto.devstack.children import app_processes, child_env
from roto.settings import load_settings


def test_children_read_the_stack_settings_back_from_their_environment() -> None:
    stack = load_settings(
        {},
        data_dir="/var/roto",
        port=9100,
        database_url="postgresql://postgres:@/roto?host=/var/roto/postgres",
        redis_url="redis://127.0.0.1:9101/0",
        aws_endpoint_url="http://127.0.0.1:9102",
        jwt_secret="s3cret",
    )
    api = next(spec for spec in app_processes(stack) if spec.name == "api")
    env = {**child_env(stack), **api.env}

    seen = load_settings({k: v for k, v in env.items() if k.startswith("ROTO_")})

    assert seen.data_dir == "/var/roto"
    assert seen.port == 9100
    assert seen.database_url == stack.database_url
    assert seen.redis_url == stack.redis_url
    assert seen.aws_endpoint_url == "http://127.0.0.1:9102"
    assert seen.jwt_secret == "s3cret"


def test_api_listens_where_the_settings_say_and_names_are_unique() -> None:
    processes = app_processes(load_settings({}, host="127.0.0.1", port=9100))

    names = [spec.name for spec in processes]
    api = processes[names.index("api")]

    assert len(set(names)) == len(names)
    assert {"api", "worker-media"} <= set(names)
    assert api.argv[api.argv.index("--port") + 1] == "9100"
    assert "roto.app:create_app" in api.argv


def test_only_the_api_is_given_the_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROTO_JWT_SECRET", "from-the-shell-" + "x" * 32)
    stack = load_settings({}, jwt_secret="s" * 40)

    base = child_env(stack)
    given = {
        spec.name: {**base, **spec.env}.get("ROTO_JWT_SECRET") for spec in app_processes(stack)
    }

    assert given["api"] == "s" * 40
    assert {name: secret for name, secret in given.items() if name != "api"} == {
        name: None for name in given if name != "api"
    }

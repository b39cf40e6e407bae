"""Limits and the document: 429 with Retry-After per key, 413 for large bodies, problems for unknown routes, the
OpenAPI 3.1 document, and the API migration up and down."""

from __future__ import annotations

import http.client
import socket
from pathlib import Path

from sqlalchemy import inspect

from alembic import command
from simhost.db import make_engine
from tests.registry.test_registry_migration import alembic_config
from tests.web.weblib import problem_of, serve


def test_rate_limit_per_key_answers_429_with_retry_after(tmp_path: Path) -> None:
    with serve(tmp_path, rate=0.5, burst=3) as api:
        for _ in range(3):
            assert api.get("/numbers", "acme").status == 200
        limited = api.get("/numbers", "acme")
        problem_of(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert api.get("/numbers", "beta").status == 200  # another key has its own bucket
        for _ in range(3):
            api.get("/numbers", "sk_wrongwrong1_" + "x" * 43)
        problem_of(api.get("/numbers", "sk_wrongwrong1_" + "x" * 43), 429)  # guessing keys is limited too


def test_large_bodies_are_413(tmp_path: Path) -> None:
    with serve(tmp_path, body_max=1024) as api:
        big = b'{"from": "shared", "to": "+79161234567", "text": "' + b"x" * 2000 + b'"}'
        problem_of(api.call("POST", "/sms", raw=big, key="acme"), 413)
        # chunked: no Content-Length, the body counted as it arrives
        conn = http.client.HTTPConnection(api.server.host, api.server.port, timeout=10)
        try:
            conn.request("POST", "/api/v1/sms", body=iter([big[:600], big[600:]]), encode_chunked=True,
                         headers={"Authorization": f"Bearer {api.keys['acme']}", "Content-Type": "application/json"})
            assert conn.getresponse().status == 413
        finally:
            conn.close()


def test_unknown_routes_and_methods_are_problems(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        problem_of(api.get("/nothing", "acme"), 404)
        problem_of(api.call("DELETE", "/messages", key="acme"), 405)


def test_openapi_document(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        doc = api.get("/openapi.json").data
        assert str(doc["openapi"]).startswith("3.1.")
        paths = doc["paths"]
        assert isinstance(paths, dict)
        for path in ("/api/v1/messages", "/api/v1/messages/{message_id}", "/api/v1/sms", "/api/v1/sends",
                     "/api/v1/forwarding", "/api/v1/deliveries", "/api/v1/numbers", "/api/v1/session",
                     "/api/v1/admin/unrouted/{message_id}/assign", "/api/v1/admin/deliveries/retry"):
            assert path in paths, path
        assert set(paths["/api/v1/forwarding"]) == {"get", "put"}
        assert "HTTPBearer" in doc["components"]["securitySchemes"]  # type: ignore[index, operator]
        problem_of(api.get("/docs"), 404)  # no docs page (it would load scripts from a CDN)


def test_server_stops_and_frees_its_port(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        host, port = api.server.host, api.server.port
    with socket.socket() as probe:
        assert probe.connect_ex((host, port)) != 0


def test_migration_0006_up_and_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0005")
    engine = make_engine(url)
    try:
        assert "api_keys" not in inspect(engine).get_table_names()
        command.upgrade(cfg, "0006")
        inspector = inspect(engine)
        assert {"api_keys", "operators", "web_secret"} <= set(inspector.get_table_names())
        assert "web_password_hash" in {c["name"] for c in inspector.get_columns("customers")}
        assert {"assigned_by", "assigned_at"} <= {c["name"] for c in inspector.get_columns("routed_messages")}
        command.downgrade(cfg, "0005")
        inspector = inspect(engine)
        assert not {"api_keys", "operators", "web_secret"} & set(inspector.get_table_names())
        assert "web_password_hash" not in {c["name"] for c in inspector.get_columns("customers")}
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()

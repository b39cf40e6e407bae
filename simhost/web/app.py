"""The web application: the REST API under /api/v1 with its OpenAPI 3.1 document, problems for every error,
request limits, live streams, and the web pages."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from sqlalchemy.orm import Session, sessionmaker

import simhost
from simhost.config import Settings
from simhost.status_feed import StatusFeed
from simhost.topics import Topics
from simhost.web import (
    api_customer,
    api_keys,
    api_live,
    api_operator,
    api_operator_registry,
    api_operator_traffic,
    auth,
    pages,
    problems,
)
from simhost.web.live import MessageHub, PortBoard
from simhost.web.ratelimit import DEFAULT_BODY_MAX, BodyLimit, RateLimiter

API_PREFIX = "/api/v1"


def create_app(settings: Settings, sessions: sessionmaker[Session], *, limiter: RateLimiter | None = None,
               body_max: int = DEFAULT_BODY_MAX, docs: bool = False, port_status: bool = False) -> FastAPI:
    """The API and pages on `sessions`' database; `docs` adds the interactive docs at /api/v1/docs (off by default:
    the page loads its scripts from a CDN); `port_status` reads the ports' live statuses from the broker (once the
    board's start() is called)."""
    app = FastAPI(title="simhost", version=_version(), openapi_url=f"{API_PREFIX}/openapi.json",
                  docs_url=f"{API_PREFIX}/docs" if docs else None, redoc_url=None,
                  description="The REST API of simhost: customers read their messages, send SMS, set their "
                              "forwarding; operators run the bank. Authenticate with `Authorization: Bearer "
                              "sk_...` (an API key) or a web session (POST /api/v1/session). Every error is an "
                              "RFC 9457 problem (application/problem+json).")
    topics = Topics(settings.topic_prefix)
    app.state.simhost = auth.AppState(
        settings=settings, sessions=sessions,
        limiter=limiter or RateLimiter(settings.api_rate_per_s, settings.api_burst),
        secret=auth.load_secret(sessions), topics=topics, hub=MessageHub(sessions),
        board=PortBoard((lambda changed: StatusFeed(settings.mqtt, topics, on_change=changed))
                        if port_status else None))
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth.router)
    api.include_router(api_live.router)  # before the customers' /messages/{id}, which would take "stream"
    api.include_router(api_customer.router)
    api.include_router(api_keys.router)
    api.include_router(api_operator.router)
    api.include_router(api_operator_registry.router)
    api.include_router(api_operator_traffic.router)
    app.include_router(api)
    pages.install(app)
    problems.install(app)
    app.add_middleware(BodyLimit, limit=body_max)
    app.add_middleware(pages.SecurityHeaders)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(simhost.__name__)
    except PackageNotFoundError:
        return "0"

"""The web server for `simhost run`: uvicorn in a thread of its own, on a socket bound before it starts (so
the port accepts at once and a port in use is reported at start), stopped cleanly."""

from __future__ import annotations

import socket
import threading

import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from simhost.config import ConfigError, Settings
from simhost.inputs import shown
from simhost.web.app import create_app
from simhost.web.auth import AppState
from simhost.web.ratelimit import DEFAULT_BODY_MAX, RateLimiter

GRACEFUL_STOP_S = 5.0


def parse_listen(value: str) -> tuple[str, int]:
    """`host:port` (`[::1]:8080` for IPv6) as a host and a port."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"HTTP listen address {shown(value)} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host, int(port)


class WebServer:
    """The API and the pages served on `settings.http_listen` (or `listen`), the ports' live statuses read from the
    broker unless `port_status` is False; start() binds and serves, stop() ends it."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], listen: str | None = None, *,
                 limiter: RateLimiter | None = None, body_max: int = DEFAULT_BODY_MAX,
                 port_status: bool = True) -> None:
        self.host, self.port = parse_listen(listen or settings.http_listen)
        self.app = create_app(settings, sessions, limiter=limiter, body_max=body_max, docs=settings.api_docs,
                              port_status=port_status)
        self.state = app_state_of(self.app)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"the web server cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None
        sock.listen(128)
        self.port = sock.getsockname()[1]  # the one the system chose for port 0
        self._socket = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=int(GRACEFUL_STOP_S), server_header=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="web",
                                        daemon=True)
        self._thread.start()
        self.state.board.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        # the streams end first: the server then has no open answer to wait out
        self.state.hub.close()
        self.state.board.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(GRACEFUL_STOP_S + 5)
        if self._socket is not None:
            self._socket.close()


def app_state_of(app: FastAPI) -> AppState:
    state = app.state.simhost
    assert isinstance(state, AppState)
    return state

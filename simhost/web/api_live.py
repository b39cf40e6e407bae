"""Server-sent events for the web pages: a customer's new messages and the operators' port board, live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from simhost.status_feed import PortReport
from simhost.web.auth import Customer_, Operator_, State
from simhost.web.problems import responses
from simhost.web.schemas import Message

router = APIRouter(tags=["live"], responses=responses(401, 403, 429))
HEARTBEAT_S = 15.0
BATCH_S = 0.1  # after a status change, wait this long for its neighbours: a gateway starting publishes many at once
RETRY_MS = 2000  # how soon a browser reconnects a stream that ended
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAM: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/event-stream": {}}, "description": "A stream of server-sent events."}}


def sse(name: str, data: str, event_id: str | None = None) -> str:
    """One event; `data` is one line of JSON."""
    return f"event: {name}\n" + (f"id: {event_id}\n" if event_id else "") + f"data: {data}\n\n"


def _stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/messages/stream", response_class=StreamingResponse, responses=STREAM)
async def message_stream(who: Customer_, st: State) -> StreamingResponse:
    """The customer's messages as they are routed (or assigned to it), as server-sent events `message` (a Message);
    `ready` once listening, so a page that (re)connects reloads its list then. Ends when the server stops."""
    hub = st.hub

    async def events() -> AsyncIterator[str]:
        sub = hub.subscribe(who.name)
        try:
            yield f"retry: {RETRY_MS}\n\n" + sse("ready", "{}")
            while not hub.closed and not sub.dropped:
                try:
                    m = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if m is None:
                    break
                yield sse("message", Message.of(m).model_dump_json(), m.id)
        finally:
            hub.unsubscribe(who.name, sub)

    return _stream(events())


@router.get("/admin/ports/stream", response_class=StreamingResponse, responses=STREAM)
async def port_stream(_who: Operator_, st: State) -> StreamingResponse:
    """The ports' live statuses: `port` (a PortStatus) for each port at first and for each change, `port-cleared`
    (`{"port"}`) when a status is withdrawn, `broker` (`{"connected", "error"}`) when the MQTT connection changes."""
    board = st.board

    async def events() -> AsyncIterator[str]:
        watcher = board.watch()
        sent: dict[str, PortReport] = {}
        broker: tuple[bool, str | None] | None = None
        try:
            yield f"retry: {RETRY_MS}\n\n"
            while not board.closed:
                watcher.wake.clear()
                now = board.broker()
                if now != broker:
                    broker = now
                    yield sse("broker", json.dumps({"connected": now[0], "error": now[1]}))
                reports = board.reports()
                for name, report in sorted(reports.items()):
                    if sent.get(name) != report:
                        yield sse("port", json.dumps(asdict(report)))
                for name in sorted(sent.keys() - reports.keys()):
                    yield sse("port-cleared", json.dumps({"port": name}))
                sent = reports
                try:
                    await asyncio.wait_for(watcher.wake.wait(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                await asyncio.sleep(BATCH_S)
        finally:
            board.unwatch(watcher)

    return _stream(events())

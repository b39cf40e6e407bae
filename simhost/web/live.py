"""What the web pages watch live: one shared poller of the database fanning customers' new messages out to their
streams, and the ports' retained MQTT statuses fanned out to the operators' boards."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from simhost.registry.models import RoutedMessage
from simhost.registry.validate import as_utc
from simhost.status_feed import PortReport, StatusFeed

POLL_S = 0.5
# a row may be committed a little after the time written in it (or by a router whose clock is a little behind):
# each poll looks back this far, and ids already given are skipped
OVERLAP = timedelta(seconds=5)
QUEUE_MAX = 1000
LOG = logging.getLogger("simhost.web")


@dataclass(eq=False)
class Subscriber:
    """One stream's queue; `dropped` when it fell too far behind (the page reconnects and reloads)."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[RoutedMessage | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    dropped: bool = False

    def put(self, item: RoutedMessage | None) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped = True


class MessageHub:
    """Customers' newly routed (or assigned) messages, read by one poller for every stream of this process, which
    runs while anyone listens."""

    def __init__(self, sessions: sessionmaker[Session], poll_s: float = POLL_S) -> None:
        self.sessions, self.poll_s = sessions, poll_s
        self._subs: dict[str, set[Subscriber]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self.closed = False

    def subscribe(self, owner: str) -> Subscriber:
        """A queue of `owner`'s new messages; call in the server's event loop."""
        sub = Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subs[owner].add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return sub

    def unsubscribe(self, owner: str, sub: Subscriber) -> None:
        with self._lock:
            subs = self._subs.get(owner)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[owner]

    def close(self) -> None:
        """End every stream (from any thread): the server is stopping."""
        self.closed = True
        with self._lock:
            subs = [s for group in self._subs.values() for s in group]
        for sub in subs:
            _soon(sub.loop, sub.put, None)

    async def _run(self) -> None:
        seen: dict[str, datetime] = {}
        start = datetime.now(UTC) - OVERLAP
        while not self.closed:
            with self._lock:
                owners = list(self._subs)
            if not owners:
                return
            tick = datetime.now(UTC)
            try:
                rows = await anyio.to_thread.run_sync(self._read, owners, start)
            except Exception:  # the database away for a moment: the same window again on the next poll
                LOG.exception("reading new messages for the live inbox failed; trying again")
                await asyncio.sleep(self.poll_s)
                continue
            for m in rows:
                if m.id in seen:
                    continue
                seen[m.id] = _when(m)
                with self._lock:
                    subs = list(self._subs.get(m.owner or "", ()))
                for sub in subs:
                    sub.put(m)
            start = tick - OVERLAP
            for mid in [k for k, at in seen.items() if at < start]:
                del seen[mid]
            await asyncio.sleep(self.poll_s)

    def _read(self, owners: list[str], start: datetime) -> list[RoutedMessage]:
        base = select(RoutedMessage).where(RoutedMessage.status == "routed", RoutedMessage.owner.in_(owners))
        with self.sessions() as s:
            found = {m.id: m for m in s.scalars(base.where(RoutedMessage.routed_at >= start))}
            found.update((m.id, m) for m in s.scalars(base.where(RoutedMessage.assigned_at >= start)))
            s.expunge_all()
        return sorted(found.values(), key=lambda m: (_when(m), m.id))


def _when(m: RoutedMessage) -> datetime:
    return max(as_utc(m.routed_at), as_utc(m.assigned_at) if m.assigned_at is not None else as_utc(m.routed_at))


@dataclass(eq=False)
class Watcher:
    """One board stream: woken (in its event loop) whenever a port's status or the broker's state changes."""

    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class PortBoard:
    """The ports' live statuses from the retained MQTT topics (`feed`), or none when the web runs without them."""

    def __init__(self, make_feed: Callable[[Callable[[], None]], StatusFeed] | None) -> None:
        self._watchers: set[Watcher] = set()
        self._lock = threading.Lock()
        self.feed = make_feed(self._changed) if make_feed is not None else None
        self.closed = False

    def start(self) -> None:
        if self.feed is not None:
            self.feed.start_async()

    def close(self) -> None:
        self.closed = True
        if self.feed is not None:
            self.feed.close()
        self._changed()

    def reports(self) -> dict[str, PortReport]:
        return self.feed.reports() if self.feed is not None else {}

    def broker(self) -> tuple[bool, str | None]:
        """Whether the broker is connected, and why not."""
        if self.feed is None:
            return False, "the web service runs without the MQTT broker"
        return self.feed.connected, self.feed.error

    def watch(self) -> Watcher:
        w = Watcher(asyncio.get_running_loop())
        with self._lock:
            self._watchers.add(w)
        return w

    def unwatch(self, w: Watcher) -> None:
        with self._lock:
            self._watchers.discard(w)

    def _changed(self) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for w in watchers:
            _soon(w.loop, w.wake.set)


def _soon(loop: asyncio.AbstractEventLoop, call: Callable[..., None], *args: object) -> None:
    """`call(*args)` in `loop`, from any thread; nothing once the loop has ended."""
    with suppress(RuntimeError):  # the loop closed meanwhile
        loop.call_soon_threadsafe(call, *args)

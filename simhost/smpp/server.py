"""The SMPP 3.4 server: customers bind with their system_id and password and receive their messages as
deliver_sm; transceivers submit messages (sends) and get delivery receipts back.

It runs an asyncio loop in a thread of its own; the database is reached from a small thread pool. A message
counts as delivered only on its deliver_sm_resp; the deliveries a session holds are leased, so a customer
that unbinds or drops with some unanswered gets them again as soon as it binds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from simhost.config import ConfigError, Settings
from simhost.delivery.channels import Result
from simhost.delivery.models import SMPP
from simhost.delivery.queue import MAX_TRIES
from simhost.inputs import InputError
from simhost.metrics import Metrics
from simhost.registry import validate
from simhost.smpp import pdu, text
from simhost.smpp.pdu import Header, PduError
from simhost.smpp.store import RECEIPT_ALWAYS, RECEIPT_ON_FAILURE, Account, Leased, Receipt, Store
from simhost.topics import Topics

log = logging.getLogger("simhost.smpp")

T = TypeVar("T")
SYSTEM_ID = "simhost"
WINDOW = 10  # deliver_sm a session may have unanswered
ENQUIRE_S = 30.0  # an idle session is asked enquire_link after this long
RESPONSE_TIMEOUT_S = 30.0
BIND_TIMEOUT_S = 30.0
POLL_S = 0.25
FAILED_BIND_DELAY_S = 1.0  # a refused bind is answered this late: guessing passwords stays slow
LISTEN_RETRY_S = 30.0
REASSEMBLY_S = 600.0  # the parts of a submitted long message must all arrive within this time
RECEIPTS_AT_ONCE = 10
# what one client can hold: connections (bound or not), binds of one account, long messages being put together
MAX_CONNECTIONS = 1000
MAX_BINDS_PER_ACCOUNT = 10
MAX_ASSEMBLIES_PER_ACCOUNT = 100


def parse_listen(value: str) -> tuple[str, int] | None:
    """(host, port) of HOST:PORT (IPv6 in brackets); None for `off`."""
    if value.strip().lower() in ("off", "none", ""):
        return None
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"SMPP listen address {value[:60]!r}: give HOST:PORT (e.g. 0.0.0.0:2775) or off")
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass
class _Assembly:
    started: float
    client_id: str
    texts: dict[int, str] = field(default_factory=dict)


class SmppServer:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], *, listen: str | None = None,
                 window: int = WINDOW, enquire_s: float = ENQUIRE_S, response_timeout_s: float = RESPONSE_TIMEOUT_S,
                 bind_timeout_s: float = BIND_TIMEOUT_S, poll_s: float = POLL_S, retry_s: float | None = None,
                 max_tries: int = MAX_TRIES, failed_bind_delay_s: float = FAILED_BIND_DELAY_S,
                 metrics: Metrics | None = None) -> None:
        self.metrics = metrics or Metrics()
        self.where = parse_listen(settings.smpp_listen if listen is None else listen)
        self.store = Store(sessions, Topics(settings.topic_prefix), settings.region, settings.send_max_parts,
                           retry_s=settings.delivery_retry_s if retry_s is None else retry_s, max_tries=max_tries)
        self.region = settings.region
        self.window = window
        self.enquire_s = enquire_s
        self.response_timeout_s = response_timeout_s
        self.bind_timeout_s = bind_timeout_s
        self.poll_s = poll_s
        self.failed_bind_delay_s = failed_bind_delay_s
        self.lease = timedelta(seconds=response_timeout_s * 2 + 10)
        self.address: tuple[str, int] | None = None  # where it listens, once it does
        self.listening = threading.Event()
        # notified after every database step (a delivery recorded, a send stored): what tests wait on
        self.changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._db = ThreadPoolExecutor(max_workers=4, thread_name_prefix="simhost-smpp-db")
        self._sessions: set[_Session] = set()
        self._stopping: asyncio.Event | None = None
        self._assemblies: dict[tuple[str, str, str, int, int], _Assembly] = {}
        self._refused_said = 0.0

    def binds_of(self, login: str) -> int:
        return sum(1 for s in self._sessions if s.account is not None and s.account.login == login)

    # ---- life ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.where is None:
            return
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),),
                                        name="simhost-smpp", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            stopping = self._stopping
            if stopping is not None:
                self._loop.call_soon_threadsafe(stopping.set)
            self._thread.join()
            self._loop.close()
            self._loop = self._thread = None
        self._db.shutdown(wait=True)

    async def _main(self) -> None:
        assert self.where is not None
        assert self._stopping is not None
        host, port = self.where
        server: asyncio.Server | None = None
        while server is None:
            try:
                server = await asyncio.start_server(self._serve, host, port)
            except OSError as exc:
                log.error("SMPP server: cannot listen on %s:%d: %s (trying again in %g s; SIMHOST_SMPP_LISTEN or "
                          "--smpp-listen sets the address, `off` turns it off)", host, port,
                          exc.strerror or exc, LISTEN_RETRY_S)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), LISTEN_RETRY_S)
                if self._stopping.is_set():
                    return
        sock = server.sockets[0].getsockname()
        self.address = (str(sock[0]), int(sock[1]))
        log.info("SMPP server listening on %s:%d", *self.address)
        self.listening.set()
        await self._stopping.wait()
        server.close()
        await asyncio.gather(*(s.close("the server stops", unbind=True) for s in list(self._sessions)))
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._sessions) >= MAX_CONNECTIONS:
            now = time.monotonic()
            if now - self._refused_said > 60:
                self._refused_said = now
                log.warning("SMPP: %d connections open, the most served: new ones are closed at once",
                            len(self._sessions))
            writer.close()
            return
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)

    async def db(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._db, fn, *args)
        finally:
            with self.changed:
                self.changed.notify_all()

    async def finish(self, login: str, item: Leased, outcome: Result) -> None:
        """Record a try of a delivery (counted in the metrics like the workers' tries)."""
        result = await self.db(self.store.finish, login, item, outcome)
        self.metrics.delivery_tries.labels(SMPP, result).inc()
        self.metrics.delivery_seconds.labels(SMPP).observe(outcome.latency_ms / 1000)
        log.info("delivery %d of message %s by smpp: %s in %d ms", item.delivery_id, item.message_id, result,
                 outcome.latency_ms, extra={"delivery_id": item.delivery_id, "message_id": item.message_id,
                                            "channel": SMPP, "result": result, "latency_ms": outcome.latency_ms})

    # ---- submitted messages -------------------------------------------------------------------------

    def assemble(self, account: Account, m: pdu.ShortMessage, part: text.Part) -> tuple[str, str | None]:
        """(client id, the whole text once every part is here) of one part of a long submitted message."""
        now = time.monotonic()
        for key, a in list(self._assemblies.items()):
            if now - a.started > REASSEMBLY_S:
                del self._assemblies[key]
                log.warning("SMPP: customer %s's message to %s in %d parts (reference %d) lost parts %s within "
                            "%g s: not sent", key[0], key[2], key[4], key[3],
                            sorted(set(range(1, key[4] + 1)) - set(a.texts)), REASSEMBLY_S)
        assert part.ref is not None
        key = (account.login, m.source_addr, m.destination_addr, part.ref, part.total)
        if key not in self._assemblies and sum(1 for k in self._assemblies if k[0] == account.login) >= (
                MAX_ASSEMBLIES_PER_ACCOUNT):
            raise PduError(pdu.RMSGQFUL, f"{MAX_ASSEMBLIES_PER_ACCOUNT} long messages are being put together already")
        a = self._assemblies.setdefault(key, _Assembly(now, f"smpp-{account.login}-{now:.6f}-{part.ref}"))
        a.texts[part.seq] = part.text
        if len(a.texts) < part.total:
            return a.client_id, None
        del self._assemblies[key]
        return a.client_id, "".join(a.texts[i] for i in range(1, part.total + 1))


class _ClosedError(Exception):
    """The session ended while a request waited for its response."""


class _Session:
    def __init__(self, server: SmppServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.account: Account | None = None
        self.receives = False
        self.transmits = False
        self.seq = 0
        self.pending: dict[int, asyncio.Future[Header]] = {}
        self.window = asyncio.Semaphore(server.window)
        self.heard = time.monotonic()
        self.closed = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.receipts_in_flight: set[str] = set()
        self.freed = asyncio.Event()  # a delivery ended: the pump may lease another at once

    @property
    def who(self) -> str:
        return f"{self.account.login} ({self.peer})" if self.account else self.peer

    # ---- the wire ------------------------------------------------------------------------------------

    async def run(self) -> None:
        keepalive = asyncio.create_task(self._keepalive())
        try:
            await self._read_loop()
        except (asyncio.IncompleteReadError, ConnectionError, _ClosedError):
            pass
        except TimeoutError:
            log.info("SMPP %s: no bind within %g s: connection closed", self.peer, self.server.bind_timeout_s)
        except Exception:
            log.exception("SMPP %s: the session failed", self.who)
        finally:
            keepalive.cancel()
            await self.close("the connection ended")
            # a close started elsewhere (an unanswered enquire_link) may still be waiting for the session's tasks
            await self._own_tasks()

    async def _read_loop(self) -> None:
        while not self.closed.is_set():
            timeout = None if self.account else self.server.bind_timeout_s
            raw = await asyncio.wait_for(self.reader.readexactly(pdu.HEADER_LEN), timeout)
            h = Header.parse(raw)
            if not pdu.HEADER_LEN <= h.length <= pdu.PDU_MAX:
                log.warning("SMPP %s: a PDU of %d octets: not SMPP; connection closed", self.who, h.length)
                self.write(pdu.encode(pdu.GENERIC_NACK, h.seq, status=pdu.RINVCMDLEN))
                return
            body = await self.reader.readexactly(h.length - pdu.HEADER_LEN)
            self.heard = time.monotonic()
            if h.command_id & pdu.RESPONSE:
                waiter = self.pending.get(h.seq)
                if waiter is not None and not waiter.done():
                    waiter.set_result(h)
                continue
            try:
                await self._handle(h, body)
            except PduError as exc:
                log.info("SMPP %s: command 0x%08x refused: %s", self.who, h.command_id, exc)
                known = h.command_id in (*pdu.BINDS, pdu.SUBMIT_SM, pdu.DELIVER_SM, pdu.UNBIND, pdu.ENQUIRE_LINK)
                self.write(pdu.encode(h.command_id | pdu.RESPONSE if known else pdu.GENERIC_NACK, h.seq,
                                      status=exc.status))

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def request(self, command_id: int, body: bytes = b"") -> Header:
        """Send a request and wait for its response (within the window and the response timeout)."""
        async with self.window:
            if self.closed.is_set():
                raise _ClosedError
            self.seq = self.seq % 0x7FFFFFFF + 1
            seq = self.seq
            waiter: asyncio.Future[Header] = asyncio.get_running_loop().create_future()
            self.pending[seq] = waiter
            try:
                self.write(pdu.encode(command_id, seq, body))
                return await asyncio.wait_for(waiter, self.server.response_timeout_s)
            finally:
                self.pending.pop(seq, None)

    async def close(self, why: str, *, unbind: bool = False) -> None:
        if self.closed.is_set():
            return
        if unbind and self.account is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.request(pdu.UNBIND), 1.0)
        self.closed.set()
        for waiter in self.pending.values():
            if not waiter.done():
                waiter.set_exception(_ClosedError())
        await self._own_tasks()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        if self.account is not None:
            log.info("SMPP %s: session closed: %s", self.who, why)

    async def _keepalive(self) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(min(self.server.enquire_s / 2, 5.0))
            if self.account is None or time.monotonic() - self.heard < self.server.enquire_s:
                continue
            try:
                await self.request(pdu.ENQUIRE_LINK)
            except TimeoutError:
                log.warning("SMPP %s: no answer to enquire_link within %g s: connection closed", self.who,
                            self.server.response_timeout_s)
                self.spawn(self.close("no answer to enquire_link"))
                return
            except _ClosedError:
                return

    async def _own_tasks(self) -> None:
        """Until the session's tasks (but the one awaiting) have ended."""
        others = [t for t in self.tasks if t is not asyncio.current_task()]
        if others:
            await asyncio.gather(*others, return_exceptions=True)

    def spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---- requests from the customer -----------------------------------------------------------------

    async def _handle(self, h: Header, body: bytes) -> None:
        if h.command_id == pdu.ENQUIRE_LINK:
            self.write(pdu.encode(pdu.ENQUIRE_LINK | pdu.RESPONSE, h.seq))
        elif h.command_id in pdu.BINDS:
            await self._bind(h, body)
        elif h.command_id == pdu.UNBIND:
            self.write(pdu.encode(pdu.UNBIND | pdu.RESPONSE, h.seq))
            self.spawn(self.close("the customer unbound"))
        elif h.command_id == pdu.SUBMIT_SM:
            if self.account is None or not self.transmits:
                raise PduError(pdu.RINVBNDSTS, "submit_sm needs a transmitter or transceiver bind")
            await self._submit(h, body)
        elif h.command_id in (pdu.DELIVER_SM,) or self.account is not None:
            raise PduError(pdu.RINVCMDID, f"command 0x{h.command_id:08x} is not served here")
        else:
            raise PduError(pdu.RINVBNDSTS, "bind first")

    async def _bind(self, h: Header, body: bytes) -> None:
        if self.account is not None:
            raise PduError(pdu.RALYBND, "already bound")
        bind = pdu.parse_bind(body)
        found = await self.server.db(self.server.store.authenticate, bind.system_id, bind.password)
        if not isinstance(found, Account):
            log.warning("SMPP %s: bind as %r refused: %s", self.peer, bind.system_id[:16], found)
            await asyncio.sleep(self.server.failed_bind_delay_s)
            status = pdu.RBINDFAIL if found.endswith("is disabled") else pdu.RINVPASWD
            self.write(pdu.bind_resp(h.command_id, h.seq, status, SYSTEM_ID))
            return
        if self.server.binds_of(found.login) >= MAX_BINDS_PER_ACCOUNT:
            log.warning("SMPP %s: bind as %s refused: %d sessions bound already", self.peer, found.login,
                        MAX_BINDS_PER_ACCOUNT)
            self.write(pdu.bind_resp(h.command_id, h.seq, pdu.RBINDFAIL, SYSTEM_ID))
            return
        self.account = found
        self.receives = h.command_id in (pdu.BIND_RECEIVER, pdu.BIND_TRANSCEIVER)
        self.transmits = h.command_id in (pdu.BIND_TRANSMITTER, pdu.BIND_TRANSCEIVER)
        self.write(pdu.bind_resp(h.command_id, h.seq, pdu.ROK, SYSTEM_ID))
        mode = "transceiver" if self.receives and self.transmits else "receiver" if self.receives else "transmitter"
        log.info("SMPP %s: bound as %s (%s)", self.peer, found.login, mode)
        if self.receives:
            self.spawn(self._pump())

    async def _submit(self, h: Header, body: bytes) -> None:
        assert self.account is not None
        m = pdu.parse_short_message(body)
        part = text.submitted(m)
        try:
            to = validate.msisdn(m.destination_addr, self.server.region)
        except InputError:
            raise PduError(pdu.RINVDSTADR, f"destination {m.destination_addr!r} is not a phone number") from None
        if m.source_addr:
            try:
                validate.msisdn(m.source_addr, self.server.region)
            except InputError:
                raise PduError(pdu.RINVSRCADR, f"source {m.source_addr!r} is not one of our numbers") from None
        receipt = {1: RECEIPT_ALWAYS, 2: RECEIPT_ON_FAILURE}.get(m.registered_delivery & 3)
        client_id: str | None = None
        whole: str | None = part.text
        if part.ref is not None:
            client_id, whole = self.server.assemble(self.account, m, part)
        if whole is None:  # a part of a message still arriving: its id is the whole message's
            send_id = await self.server.db(self._send_id, client_id)
            self.write(pdu.submit_sm_resp(h.seq, pdu.ROK, send_id))
            return
        send_id, state, reason = await self.server.db(self.server.store.submit, self.account.login,
                                                      m.source_addr, to, whole, receipt, client_id)
        if state == "failed":
            log.info("SMPP %s: submit_sm refused: %s", self.who, reason)
            self.write(pdu.submit_sm_resp(h.seq, pdu.RSUBMITFAIL, send_id))
            return
        log.info("SMPP %s: submit_sm to %s queued as send %s", self.who, to, send_id)
        self.write(pdu.submit_sm_resp(h.seq, pdu.ROK, send_id))

    def _send_id(self, client_id: str) -> str:
        from simhost.sending.requests import send_id

        assert self.account is not None
        return send_id(self.account.customer_id, client_id)

    # ---- messages and receipts to the customer ------------------------------------------------------

    async def _pump(self) -> None:
        """Hand the customer its due deliveries and owed receipts while the session lasts."""
        assert self.account is not None
        login = self.account.login
        in_flight: set[int] = set()
        while not self.closed.is_set():
            free = self.server.window - len(in_flight)
            try:
                leased = (await self.server.db(self.server.store.lease, login, free, self.server.lease)
                          if free > 0 else [])
                receipts = await self.server.db(self.server.store.receipts, login, RECEIPTS_AT_ONCE)
            except Exception:
                # the database is away: the session stays, and asks again at the next poll
                log.exception("SMPP %s: reading the deliveries due failed; trying again", self.who)
                leased, receipts = [], []
            for item in leased:
                in_flight.add(item.delivery_id)
                self.spawn(self._deliver(item, in_flight))
            for r in receipts:
                if r.send_id not in self.receipts_in_flight:
                    self.receipts_in_flight.add(r.send_id)
                    self.spawn(self._receipt(r))
            if leased and len(in_flight) < self.server.window:
                continue  # more may be due: look again at once
            self.freed.clear()
            await self._freed_or_closed(self.server.poll_s)

    async def _freed_or_closed(self, timeout_s: float) -> None:
        """Until a delivery ends, the session closes, or `timeout_s` passed; the waits are ended before it returns
        (none is left pending when the loop stops)."""
        waits = [asyncio.ensure_future(self.freed.wait()), asyncio.ensure_future(self.closed.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _deliver(self, item: Leased, in_flight: set[int]) -> None:
        assert self.account is not None
        try:
            messages = _deliver_sms(item, self.account.long_mode)
        except (ValueError, TypeError, KeyError) as exc:
            in_flight.discard(item.delivery_id)
            self.freed.set()
            await self.server.finish(self.account.login, item,
                                     Result.failed(f"the message cannot be put in a deliver_sm: {exc}"))
            return
        started = time.monotonic()
        try:
            answers = await asyncio.gather(*(self.request(pdu.DELIVER_SM, pdu.short_message_body(m))
                                             for m in messages))
        except _ClosedError:
            await self.server.db(self.server.store.release, item, "the session ended before deliver_sm_resp")
            return
        except TimeoutError:
            await self.server.finish(self.account.login, item,
                                     Result.retry(f"no deliver_sm_resp within {self.server.response_timeout_s:g} s"))
            self.spawn(self.close("deliver_sm unanswered"))
            return
        finally:
            in_flight.discard(item.delivery_id)
            self.freed.set()
        ms = int((time.monotonic() - started) * 1000)
        bad = next((a.status for a in answers if a.status != pdu.ROK), None)
        if bad is None:
            outcome = Result.delivered(pdu.ROK, ms)
        elif bad == pdu.RX_P_APPN:
            outcome = Result.failed(f"deliver_sm_resp status 0x{bad:08x}: the customer refuses it for good", bad, ms)
        else:
            outcome = Result.retry(f"deliver_sm_resp status 0x{bad:08x}", bad, ms)
        await self.server.finish(self.account.login, item, outcome)

    async def _receipt(self, r: Receipt) -> None:
        m = text.receipt(r.send_id, r.state, r.reason_code, r.from_number, r.to_number, r.created_at,
                         r.updated_at, r.text, r.parts)
        try:
            answer = await self.request(pdu.DELIVER_SM, pdu.short_message_body(m))
        except (_ClosedError, TimeoutError):
            return  # owed still: sent on the next bind
        finally:
            self.receipts_in_flight.discard(r.send_id)
        if answer.status == pdu.ROK:
            await self.server.db(self.server.store.receipt_sent, r.send_id)


def _deliver_sms(item: Leased, long_mode: str) -> list[pdu.ShortMessage]:
    """The deliver_sm PDUs of a leased delivery's routed message."""
    p = item.payload
    data = bytes.fromhex(str(p["data_hex"])) if p.get("text") is None and p.get("data_hex") else None
    body = p.get("text") if isinstance(p.get("text"), str) else None
    if body is None and data is None:
        body = ""
    sender = p.get("sender")
    sender_type = p.get("sender_type")
    return text.deliveries(item.message_id, text.address(sender if isinstance(sender, str) else None,
                                                         sender_type if isinstance(sender_type, str) else None),
                           str(p.get("number") or ""), body, data, long_mode)

"""The delivery service: worker threads that deliver the queued routed messages, one queue per owner and channel."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from simhost.config import Settings
from simhost.delivery import channels
from simhost.delivery.channels import Channel, Item, Result
from simhost.delivery.forward import ForwardChannel
from simhost.delivery.mail import MailChannel
from simhost.delivery.models import EMAIL, PENDING, SMPP, Delivery
from simhost.delivery.queue import MAX_TRIES, record_try
from simhost.delivery.webhook import WebhookChannel
from simhost.metrics import LazyCollector, Metrics, bounded, delivery_queue_families
from simhost.registry.models import Customer, RoutedMessage

log = logging.getLogger("simhost.delivery")

WORKERS = 8
RECORD_BATCH = 200
POLL_S = 0.25  # a delivery service in another process than the router finds new rows this late at most


@dataclass(frozen=True)
class _Done:
    """A try made (or stopped before it was made: `tried` False), waiting to be recorded."""

    delivery: Delivery
    outcome: Result
    tried: bool = True


@dataclass(frozen=True)
class _Job:
    id: int
    key: tuple[str, str]  # (owner, channel): the queue it belongs to


class DeliveryService:
    """Delivers pending deliveries until stopped.

    A dispatcher thread picks the due rows and hands at most one per (owner, channel) at a time to the worker
    threads, so a slow or dead endpoint holds up only its own queue. Picking a row leases it (its due time is
    moved past the longest a try can take) in a conditional update: several services may share one database,
    and a row whose service died mid-try is taken up again once the lease runs out. A try is recorded before the
    row changes, in one transaction; a delivery cut short by a crash is sent again (the Idempotency-Key tells
    the receiver it is the same message), never lost.
    """

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], *, workers: int = WORKERS,
                 timeout_s: float | None = None, retry_s: float | None = None, max_tries: int = MAX_TRIES,
                 poll_s: float = POLL_S, allow_private: bool | None = None,
                 extra_channels: Sequence[Channel] = (), metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.collector = LazyCollector("delivery", self._read_gauges, self.metrics)
        self.sessions = sessions
        self.workers = workers
        self.timeout_s = settings.delivery_timeout_s if timeout_s is None else timeout_s
        self.retry_s = settings.delivery_retry_s if retry_s is None else retry_s
        self.max_tries = max_tries
        self.poll_s = poll_s
        self.allow_private = settings.delivery_allow_private if allow_private is None else allow_private
        self.channels: dict[str, Channel] = {
            c.name: c for c in (*standard_channels(settings, sessions, timeout_s=self.timeout_s,
                                                   allow_private=self.allow_private), *extra_channels)}
        # longer than any try: connecting, sending and reading each wait at most timeout_s
        self.lease = timedelta(seconds=3 * self.timeout_s + 5)
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._done: queue.Queue[tuple[_Job, _Done] | None] = queue.Queue()
        self._busy: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # notified after every recorded try: whoever waits for a delivery's state waits on this
        self.changed = threading.Condition()
        self.tries = 0

    def start(self) -> None:
        self.stopping.clear()
        self.metrics.attach(self.collector)
        self._warn_unserved()
        self._threads = [threading.Thread(target=self._dispatch_loop, name="simhost-delivery", daemon=True)]
        self._threads += [threading.Thread(target=self._work_loop, name=f"simhost-delivery-{i}", daemon=True)
                          for i in range(self.workers)]
        self._threads.append(threading.Thread(target=self._record_loop, name="simhost-delivery-record",
                                              daemon=True))
        for t in self._threads:
            t.start()

    def _warn_unserved(self) -> None:
        """Say which queued deliveries this service will not take: channels without their settings (e-mail
        without SIMHOST_SMTP) wait, and nothing else would say why."""
        with self.sessions() as s:
            waiting = s.execute(select(Delivery.channel, func.count()).where(
                Delivery.state == PENDING, Delivery.channel.not_in([*self.channels, SMPP]))
                .group_by(Delivery.channel)).all()
        for channel, n in waiting:
            why = " (SIMHOST_SMTP is not set)" if channel == EMAIL else ""
            log.warning("%d %s deliveries wait: this service does not deliver by %s%s", n, channel, channel, why)

    def stop(self) -> None:
        """Stop picking rows and wait for the tries under way (each ends within its timeout)."""
        self.stopping.set()
        self._wake.set()
        dispatcher, *workers, recorder = self._threads
        dispatcher.join()
        for _ in workers:
            self._jobs.put(None)
        for t in workers:
            t.join()
        self._done.put(None)
        recorder.join()
        self._threads = []
        self.metrics.detach(self.collector)

    def _read_gauges(self) -> list[Metric]:
        """The queue's depth by channel, from the database (on each scrape)."""
        with self.sessions() as s, bounded(s.connection()) as c:
            pending = c.execute(select(Delivery.channel, func.count()).where(Delivery.state == PENDING)
                                .group_by(Delivery.channel))
            return delivery_queue_families({str(channel): int(count) for channel, count in pending})

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._wake.set()

    # ---- the dispatcher ------------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self._dispatch()
            except Exception:
                log.exception("picking due deliveries failed; trying again")
            self._wake.wait(self.poll_s)
            self._wake.clear()
        # jobs handed out but not started are left pending: their lease runs out for the next service
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._release(job)

    def _dispatch(self) -> None:
        with self._lock:
            busy = set(self._busy)
        free = self.workers - len(busy)
        if free <= 0:
            return
        now = datetime.now(UTC)
        due = (Delivery.state == PENDING, Delivery.next_try_at <= now, Delivery.channel.in_(list(self.channels)))
        picked: list[_Job] = []
        with self.sessions.begin() as s:
            # the queues (owner, channel) with a row due, longest waiting first; then each one's oldest row: a
            # queue with thousands due never hides the others' rows behind it
            queues = s.execute(select(Delivery.owner, Delivery.channel).where(*due)
                               .group_by(Delivery.owner, Delivery.channel)
                               .order_by(func.min(Delivery.next_try_at)).limit(free + len(busy))).all()
            for owner, channel in queues:
                key = (owner, channel)
                if key in busy:
                    continue
                row = s.execute(select(Delivery.id, Delivery.next_try_at)
                                .where(*due, Delivery.owner == owner, Delivery.channel == channel)
                                .order_by(Delivery.next_try_at, Delivery.id).limit(1)).first()
                if row is None:
                    continue
                claimed = s.execute(update(Delivery)
                                    .where(Delivery.id == row.id, Delivery.state == PENDING,
                                           Delivery.next_try_at == row.next_try_at)
                                    .values(next_try_at=now + self.lease))
                if getattr(claimed, "rowcount", 0) != 1:
                    continue  # another service took it
                busy.add(key)
                picked.append(_Job(row.id, key))
                if len(picked) >= free:
                    break
        with self._lock:
            self._busy.update(job.key for job in picked)
        for job in picked:
            self._jobs.put(job)

    def _release(self, job: _Job) -> None:
        with self._lock:
            self._busy.discard(job.key)
        self._wake.set()

    # ---- the workers ---------------------------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                done = self._try(job.id)
            except Exception:
                # the row stays leased: it is tried again when the lease runs out
                log.exception("delivery %d: the try could not be made", job.id)
                done = None
            if done is None:
                self._release(job)
            else:
                self._done.put((job, done))

    def _try(self, delivery_id: int) -> _Done | None:
        with self.sessions() as s:
            row = s.execute(select(Delivery, RoutedMessage.payload, Customer)
                            .join(RoutedMessage, RoutedMessage.id == Delivery.message_id)
                            .outerjoin(Customer, Customer.login == Delivery.owner)
                            .where(Delivery.id == delivery_id)).one_or_none()
            if row is None or row.Delivery.state != PENDING:
                return None
            d: Delivery = row.Delivery
            customer = _settings_of(row.Customer) if row.Customer is not None else None
        channel = self.channels.get(d.channel)
        if channel is None:
            return _Done(d, Result.failed(f"no deliverer for channel {d.channel!r}"), tried=False)
        if customer is None:
            return _Done(d, Result.failed(f"customer {d.owner} no longer exists"), tried=False)
        if not customer.enabled:
            return _Done(d, Result.failed(f"customer {d.owner} is disabled (`simhost delivery retry` sends it "
                                          "once enabled again)"), tried=False)
        item = Item(d.id, d.message_id, d.owner, d.kind, d.tries, row.payload, customer)
        return _Done(d, channel.deliver(item, datetime.now(UTC)))

    # ---- the recorder --------------------------------------------------------------------------------

    def _record_loop(self) -> None:
        """Record the tries as they end, all those waiting in one transaction (a commit is the dearest part of a
        try on SQLite; the workers go on meanwhile), then free their queues."""
        while True:
            first = self._done.get()
            if first is None:
                return
            batch, last = [first], False
            while len(batch) < RECORD_BATCH:
                try:
                    more = self._done.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    last = True
                    break
                batch.append(more)
            self._record(batch)
            if last:
                return

    def _record(self, batch: list[tuple[_Job, _Done]]) -> None:
        results: list[str] = []
        try:
            now = datetime.now(UTC)
            with self.sessions.begin() as s:
                results = [record_try(s, done.delivery.id, done.delivery.tries, done.outcome, now,
                                      retry_s=self.retry_s, max_tries=self.max_tries, owner=done.delivery.owner)
                           for _job, done in batch]
        except Exception:
            # the rows stay leased: they are tried again when their leases run out
            log.exception("%d delivery tries could not be recorded", len(batch))
        for (_job, done), result in zip(batch, results, strict=False):
            d, latency_ms = done.delivery, done.outcome.latency_ms
            self.metrics.delivery_tries.labels(d.channel, result).inc()
            if done.tried:
                self.metrics.delivery_seconds.labels(d.channel).observe(latency_ms / 1000)
            log.info("delivery %d of message %s by %s: %s in %d ms", d.id, d.message_id, d.channel, result,
                     latency_ms, extra={"delivery_id": d.id, "message_id": d.message_id, "channel": d.channel,
                                        "result": result, "latency_ms": latency_ms, "tries": d.tries + 1})
        for job, _done in batch:
            self._release(job)
        with self.changed:
            self.tries += len(results)
            self.changed.notify_all()


def standard_channels(settings: Settings, sessions: sessionmaker[Session], *, timeout_s: float,
                      allow_private: bool) -> list[Channel]:
    """The channels the workers serve (SMPP is served by the SMPP server, to bound customers); e-mail when an SMTP
    server is set, its settings checked here so that a mistake stops `simhost run` at once (a ConfigError)."""
    served: list[Channel] = [WebhookChannel(timeout_s=timeout_s, allow_private=allow_private),
                             ForwardChannel(settings, sessions)]
    if settings.smtp_url:
        served.append(MailChannel.from_settings(settings, timeout_s=timeout_s))
    return served


def _settings_of(c: Customer) -> channels.Customer:
    return channels.Customer(c.login, c.enabled, c.email, c.http_url, c.http_secret, c.http_secret_previous,
                             c.http_secret_rotated_at, c.smpp_system_id, c.forward_msisdn)

"""USSD on one port: scheduled balance checks and one-off requests, started by the port worker in its idle time;
the answer comes as an event, so the port reads messages while it waits, and a timeout cancels the session."""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from simhost.config import UssdCheck
from simhost_drivers.at.errors import AtError
from simhost_drivers.modems.types import ModemDriver
from simhost_drivers.modems.ussd import UssdAnswer, UssdError, UssdTimeoutError, UssdUnsupportedError

log = logging.getLogger("simhost.ussd")

FIRST_CHECK_S = 60.0  # the first balance check waits this long after the port is first ready (or the interval)
# a currency symbol right before the amount ("$12.50"), or a short word right after it ("123,45 р.", "100.00 RUB")
CURRENCY_AFTER_RE = re.compile(r"^\s*([^\W\d_]{1,4}\.?(?![^\W\d_])|[$€£₽¥₴₸])")
CURRENCY_BEFORE_RE = re.compile(r"([$€£₽¥₴₸])\s*$")


class UssdStatus(Protocol):
    """What the desk reads of the port's status (the SIM's network) and writes into it (the balance)."""

    operator: str | None
    imsi: str | None
    balance: dict[str, object] | None
    balance_error: dict[str, object] | None


@dataclass(frozen=True)
class UssdResult:
    """How a USSD request ended: `answer` (decoded), or `error` with its `kind` (timeout, network, unsupported,
    port, expired); `at` when it ended."""

    code: str
    answer: UssdAnswer | None
    error: str | None
    kind: str | None
    at: datetime


@dataclass(frozen=True)
class UssdRequest:
    """A one-off request asked with `timeout_s`: `reply` gets its result on the worker's thread by `deadline`
    (monotonic, from when it was asked: time spent waiting for the port counts), then whoever asked gives up."""

    id: str
    code: str
    timeout_s: float
    deadline: float
    reply: Callable[[UssdResult], None]


@dataclass
class _Job:
    code: str
    timeout_s: float
    deadline: float
    request: UssdRequest | None = None
    check: UssdCheck | None = None


def _kind(exc: Exception) -> str:
    if isinstance(exc, UssdTimeoutError):
        return "timeout"
    if isinstance(exc, UssdUnsupportedError):
        return "unsupported"
    return "network" if isinstance(exc, UssdError) else "port"


def balance_of(text: str, check: UssdCheck) -> dict[str, object] | None:
    """The amount (a number) and the currency (text, when the answer names one) that `check.amount` finds in
    `text`; None when it finds none."""
    found = re.search(check.amount, text)
    if found is None:
        return None
    start, end = found.span(1) if found.re.groups else found.span()
    try:
        amount = float(text[start:end].replace(",", ".").replace(" ", "").replace("\u00a0", ""))
    except ValueError:
        return None
    after = CURRENCY_AFTER_RE.match(text[end:])
    before = CURRENCY_BEFORE_RE.search(text[:start])
    currency = before.group(1) if before else after.group(1) if after else None
    return {"amount": amount, "currency": currency}


class UssdDesk:
    """The USSD work of one port. The worker calls `next_due`, `step` (in its idle time), `answered` (with each
    UssdReply event) and `session_ended`; `submit` may be called from any thread."""

    def __init__(self, port: str, status: UssdStatus, checks: Sequence[UssdCheck], *,
                 wake: Callable[[], None], changed: Callable[[], None],
                 first_check_s: float = FIRST_CHECK_S) -> None:
        self.port = port
        self.status = status
        self.checks = tuple(checks)
        self._wake = wake
        self._changed = changed
        self._first_check_s = first_check_s
        self._lock = threading.Lock()
        self._requests: deque[UssdRequest] = deque()
        self._job: _Job | None = None
        self._next_check: float | None = None

    # ---- any thread ------------------------------------------------------------------------------------------

    def submit(self, request: UssdRequest) -> None:
        """Queue a one-off request; the worker runs it in its next idle moment."""
        with self._lock:
            self._requests.append(request)
        self._wake()

    # ---- the worker's thread ---------------------------------------------------------------------------------

    def check_for_sim(self) -> UssdCheck | None:
        """The first balance check whose network the port's SIM is on."""
        return next((c for c in self.checks if c.matches(self.status.operator, self.status.imsi)), None)

    def next_due(self, now: float) -> float:
        """When the desk wants the worker's attention next (inf: not until something happens)."""
        if self._job is not None:
            return self._job.deadline
        with self._lock:
            if self._requests:
                return now
        if self._next_check is None and self.checks:
            check = self.check_for_sim()
            if check is not None:
                self._next_check = now + min(check.interval_s, self._first_check_s)
        return self._next_check if self._next_check is not None else math.inf

    def step(self, driver: ModemDriver, now: float) -> None:
        """Give up a request whose answer is overdue (the session is cancelled), else start what is due."""
        job = self._job
        if job is not None:
            if now >= job.deadline:
                self._job = None
                self._finish(job, None, UssdTimeoutError(
                    f"no answer to USSD {job.code} within {job.timeout_s:g} s; the session was cancelled"))
                driver.ussd_cancel()
            return
        job = self._take(now)
        if job is None:
            return
        self._job = job
        try:
            driver.ussd_start(job.code)
        except (AtError, ValueError) as exc:
            self._job = None
            self._finish(job, None, exc)
            if not isinstance(exc, UssdError | ValueError):
                raise  # the modem's line failed: the session starts again

    def answered(self, answer: UssdAnswer) -> None:
        """A +CUSD report arrived: the job in flight ends with it."""
        job, self._job = self._job, None
        if job is None:
            log.info("port %s: USSD report with no request waiting (status %d): %r", self.port, answer.status,
                     answer.text)
            return
        try:
            self._finish(job, answer.checked(), None)
        except UssdError as exc:
            self._finish(job, None, exc)

    def session_ended(self) -> None:
        """The modem's session ended: the request in flight will not be answered."""
        job, self._job = self._job, None
        if job is not None:
            self._finish(job, None, ConnectionError("the port's session ended before the answer came"))

    # ---- inside ----------------------------------------------------------------------------------------------

    def _take(self, now: float) -> _Job | None:
        """The next job: a waiting request (ones whose asker gave up are answered `expired`), else a check due."""
        while True:
            with self._lock:
                request = self._requests.popleft() if self._requests else None
            if request is None:
                break
            if now < request.deadline:
                return _Job(request.code, request.timeout_s, request.deadline, request=request)
            request.reply(UssdResult(request.code, None, "the request waited too long for the port", "expired",
                                     datetime.now(UTC)))
        if self._next_check is None or now < self._next_check:
            return None
        check = self.check_for_sim()
        if check is None:
            self._next_check = None
            return None
        self._next_check = now + check.interval_s
        return _Job(check.code, check.timeout_s, now + check.timeout_s, check=check)

    def _finish(self, job: _Job, answer: UssdAnswer | None, error: Exception | None) -> None:
        at = datetime.now(UTC)
        result = UssdResult(job.code, answer, None if error is None else str(error),
                            None if error is None else _kind(error), at)
        if error is not None:
            log.warning("port %s: USSD %s failed: %s", self.port, job.code, error)
        if job.request is not None:
            try:
                job.request.reply(result)
            except Exception:
                log.exception("port %s: answering USSD request %s failed", self.port, job.request.id)
        if job.check is not None:
            self._record(job.check, result)

    def _record(self, check: UssdCheck, result: UssdResult) -> None:
        """Note a balance check's outcome in the port status: `balance` on success (the error cleared), else
        `balance_error` (the last balance kept)."""
        when = result.at.isoformat()
        text = result.answer.text if result.answer is not None else None
        found = balance_of(text, check) if text is not None else None
        if found is not None:
            self.status.balance = {**found, "raw": text, "code": check.code, "at": when}
            self.status.balance_error = None
        else:
            error = result.error or f"no amount in the answer: {text!r}"
            self.status.balance_error = {"error": error, "kind": result.kind or "no-amount", "raw": text,
                                         "code": check.code, "at": when}
        self._changed()

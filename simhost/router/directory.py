"""The in-memory directory snapshot the routing decision reads: customers, numbers, whitelists, sends."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

NUMBER_KINDS = ("shared", "virtual", "hosted-company", "hosted-client")
DEDICATED_KINDS = frozenset({"virtual", "hosted-company", "hosted-client"})


@dataclass(frozen=True)
class CustomerEntry:
    login: str  # as registered; lookups go through Directory.customer(), which ignores case
    enabled: bool
    verified: bool


@dataclass(frozen=True)
class NumberEntry:
    msisdn: str  # E.164
    kind: str  # one of NUMBER_KINDS
    owner: str | None  # a customer login; None for shared numbers and unassigned dedicated ones
    enabled: bool
    iccid: str | None = None
    whitelist: frozenset[str] = frozenset()  # approved sender names, casefolded
    port: str | None = None  # the port whose modem holds this SIM, when registered (`slot add --port`)


@dataclass(frozen=True)
class SendEntry:
    to: str  # the subscriber, E.164 (or as reported when it does not parse)
    owner: str  # customer login
    at: datetime  # timezone-aware


@dataclass
class Directory:
    """What routing needs, built once from the registry and swapped whole when the registry changes."""

    customers: Mapping[str, CustomerEntry] = field(default_factory=dict)  # key: login casefolded
    numbers: Mapping[str, NumberEntry] = field(default_factory=dict)  # key: MSISDN (E.164)
    by_iccid: Mapping[str, str] = field(default_factory=dict)  # ICCID -> MSISDN
    by_port: Mapping[str, frozenset[str]] = field(default_factory=dict)  # port -> the MSISDNs of its slots
    # subscriber -> its sends, sorted by time (oldest first)
    sends: dict[str, list[SendEntry]] = field(default_factory=dict)

    @classmethod
    def build(cls, customers: list[CustomerEntry], numbers: list[NumberEntry],
              sends: list[SendEntry]) -> Directory:
        d = cls(
            customers={c.login.casefold(): c for c in customers},
            numbers={n.msisdn: n for n in numbers},
            by_iccid={n.iccid: n.msisdn for n in numbers if n.iccid},
        )
        by_port: dict[str, set[str]] = {}
        for n in numbers:
            if n.port:
                by_port.setdefault(n.port, set()).add(n.msisdn)
        d.by_port = {port: frozenset(msisdns) for port, msisdns in by_port.items()}
        for s in sorted(sends, key=lambda s: s.at):
            d.sends.setdefault(s.to, []).append(s)
        return d

    def customer(self, login: str) -> CustomerEntry | None:
        return self.customers.get(login.casefold())

    def number(self, msisdn: str | None, iccid: str | None) -> NumberEntry | None:
        """The receiving number, by MSISDN when the gateway knew it, else by the SIM's ICCID."""
        if msisdn and msisdn in self.numbers:
            return self.numbers[msisdn]
        if iccid and iccid in self.by_iccid:
            return self.numbers.get(self.by_iccid[iccid])
        return None

    def add_send(self, send: SendEntry) -> None:
        """Record a send without rebuilding the snapshot (sends arrive far more often than registry edits)."""
        entries = self.sends.setdefault(send.to, [])
        bisect.insort(entries, send, key=lambda s: s.at)

    def last_send(self, subscriber: str, now: datetime) -> SendEntry | None:
        """The most recent send to `subscriber` made at or before `now`."""
        entries = self.sends.get(subscriber)
        if not entries:
            return None
        i = bisect.bisect_right(entries, now, key=lambda s: s.at)
        return entries[i - 1] if i else None

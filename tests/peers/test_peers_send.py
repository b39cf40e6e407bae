"""gammu-smsd and smstools3 send SMS through the bank: hwsim's state holds each message with its recipient and text."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hwsim import Bank, Timing, VirtualModem
from tests.peers.peerlib import AT_LOG_TAIL, LOG_TAIL_LINES, PROFILES, GammuSmsd, Peer, Smstools, poll, running_peer

SEND_TIMEOUT_S = 40.0
REPORT_TIMEOUT_S = 30.0
INJECT_TIMEOUT_S = 20.0
# the profile that keeps status reports in "SR" (AT+CNMI <ds>=2) rather than in the receive memory
REPORTS_APART = "ec25"


@dataclass(frozen=True)
class Outgoing:
    """A message the peer is asked to send."""

    recipient: str
    text: str
    parts: int = 1


OUTGOING = (
    Outgoing("+79161234567", "Hello from the gateway [ok] 100% €5"),
    Outgoing("+79035550002", "Привет из шлюза №1"),
    Outgoing("+79035550003", " ".join(f"long message word{i:03d}." for i in range(12)) + " [end]", parts=2),
)


@dataclass
class SendResult:
    peer: str
    profile: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    reports_in_sr: list[str] = field(default_factory=list)
    peer_outcome: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    peer_log: str = ""
    at_log_tail: list[dict[str, Any]] = field(default_factory=list)

    def diagnostics(self) -> str:
        lines = [f"[{self.peer} on {self.profile}]", *self.errors, f"sent: {self.sent!r}",
                 f"peer outcome: {self.peer_outcome!r}", "--- peer log tail ---",
                 *self.peer_log.splitlines()[-LOG_TAIL_LINES:], "--- bank at_log tail ---"]
        lines += [f"{e.get('t', 0):.3f} {e.get('dir')} {e.get('data')!r}" for e in self.at_log_tail]
        return "\n".join(lines)


def queue_with_gammu(peer: GammuSmsd) -> None:
    """gammu-smsd-inject puts each message into the SQL outbox; the delivery report is asked for."""
    for out in OUTGOING:
        args = ["gammu-smsd-inject", "-c", str(peer.dir / "smsdrc"), "TEXT", out.recipient, "-report",
                "-text", out.text]
        if not out.text.isascii():
            args.append("-unicode")
        if out.parts > 1:
            args += ["-len", str(len(out.text))]
        done = subprocess.run(args, capture_output=True, text=True, timeout=INJECT_TIMEOUT_S, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def queue_with_smstools(peer: Smstools) -> None:
    """One file per message in smstools' outgoing spool, UTF-8 text."""
    for i, out in enumerate(OUTGOING):
        body = f"To: {out.recipient.removeprefix('+')}\nAlphabet: UTF-8\n\n{out.text}"
        scratch = peer.dir / f"out{i}.tmp"
        scratch.write_bytes(body.encode())
        scratch.rename(peer.dir / "outgoing" / f"send{i}")


def gammu_outcome(peer: GammuSmsd) -> dict[str, Any]:
    """gammu's sentitems rows: per recipient the statuses and TP-MRs it recorded."""
    try:
        db = sqlite3.connect(f"file:{peer.db_path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return {}
    try:
        rows = db.execute("select DestinationNumber, Status, TPMR from sentitems order by ID, SequencePosition")
        out: dict[str, Any] = {}
        for number, status, tpmr in rows.fetchall():
            entry = out.setdefault(number, {"status": [], "mr": []})
            entry["status"].append(status)
            entry["mr"].append(tpmr)
        return out
    except sqlite3.Error:
        return {}
    finally:
        db.close()


def smstools_outcome(peer: Smstools) -> dict[str, Any]:
    """Per recipient whose file reached smstools' sent/ spool, the message ids (the +CMGS answers) it logged."""
    mrs: dict[str, list[int]] = {}
    for m in re.finditer(r"SMS sent(?: \(part \d+/\d+\))?, Message_id: (\d+), To: (\d+)", peer.log()):
        mrs.setdefault("+" + m.group(2), []).append(int(m.group(1)))
    out: dict[str, Any] = {}
    for path in sorted((peer.dir / "sent").glob("send*")):
        parsed = peer.read_spool_file(path)
        if parsed is not None:
            recipient = "+" + parsed[0].get("To", "")
            out[recipient] = {"mr": mrs.get(recipient, [])}
    failed = sorted(p.name for p in (peer.dir / "failed").glob("send*"))
    if failed:
        out["failed"] = failed
    return out


def reports_in_sr(state: dict[str, Any]) -> list[str]:
    return [entry["pdu"] for entry in state["storage"] if entry["mem"] == "SR"]


def joined(sent: list[dict[str, Any]], recipient: str) -> tuple[str, int]:
    """The text sent to `recipient`, parts joined in order, and how many parts carried it."""
    parts = [s for s in sent if s.get("recipient") == recipient]
    parts.sort(key=lambda s: (s.get("concat") or {}).get("seq", 1))
    return "".join(s.get("text") or "" for s in parts), len(parts)


def all_sent(modem: VirtualModem) -> bool:
    sent = modem.state()["sent"]
    return all(joined(sent, out.recipient)[1] >= out.parts for out in OUTGOING)


def run_send_session(peer_cls: type[Peer], profile: str, directory: Path) -> SendResult:
    result = SendResult(peer=peer_cls.name, profile=profile)
    (directory / "bank").mkdir()
    (directory / "peer").mkdir()
    with Bank(directory / "bank", ports=1, profiles=(profile,), timing=Timing(report_delay_s=0.2)) as bank:
        modem = bank.ports[0]
        peer = peer_cls(directory / "peer", modem.path)
        try:
            with running_peer(peer):
                if isinstance(peer, GammuSmsd):
                    queue_with_gammu(peer)
                elif isinstance(peer, Smstools):
                    queue_with_smstools(peer)
                if not modem.wait_until(all_sent, SEND_TIMEOUT_S):
                    result.errors.append(f"not every message reached the bank in {SEND_TIMEOUT_S} s")
                if isinstance(peer, GammuSmsd) and profile == REPORTS_APART:
                    # gammu never looks into "SR", which AT+CPMS=? does not offer: the reports stay there
                    def kept(m: VirtualModem) -> bool:
                        return len(reports_in_sr(m.state())) == sum(out.parts for out in OUTGOING)
                    if not modem.wait_until(kept, REPORT_TIMEOUT_S):
                        result.errors.append(f"the status reports did not all reach SR in {REPORT_TIMEOUT_S} s")
                elif isinstance(peer, GammuSmsd):
                    # gammu reads the stored status reports (AT+CNMI <ds>=2) and marks its sent items delivered
                    def delivered(outcome: dict[str, Any]) -> bool:
                        return len(outcome) == len(OUTGOING) and all(
                            set(v["status"]) == {"DeliveryOK"} for v in outcome.values())
                    _, ok = poll(lambda: gammu_outcome(peer), delivered, REPORT_TIMEOUT_S)
                    if not ok:
                        result.errors.append(f"gammu did not mark every message delivered in {REPORT_TIMEOUT_S} s")
                else:
                    _, ok = poll(lambda: smstools_outcome(peer),
                                 lambda o: len(o) >= len(OUTGOING), REPORT_TIMEOUT_S)
                    if not ok:
                        result.errors.append(f"smstools did not move every file to sent/ in {REPORT_TIMEOUT_S} s")
        finally:
            state = modem.state()
            result.sent = list(state["sent"])
            result.reports_in_sr = reports_in_sr(state)
            result.at_log_tail = list(state["at_log"])[-AT_LOG_TAIL:]
            result.peer_log = peer.log()
            result.peer_outcome = (gammu_outcome(peer) if isinstance(peer, GammuSmsd)
                                   else smstools_outcome(peer) if isinstance(peer, Smstools) else {})
    return result


@pytest.fixture(scope="module", params=[(p, profile) for p in ("gammu-smsd", "smstools3") for profile in PROFILES],
                ids=lambda v: f"{v[0]}-{v[1]}")
def session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SendResult:
    name, profile = request.param
    peer_cls: type[Peer] = GammuSmsd if name == "gammu-smsd" else Smstools
    if peer_cls.available() is None:
        pytest.skip(f"{peer_cls.binary} is not installed")
    return run_send_session(peer_cls, profile, tmp_path_factory.mktemp(f"send-{name}-{profile}"))


@pytest.mark.parametrize("out", OUTGOING, ids=lambda o: o.recipient)
def test_bank_recorded_the_message_the_peer_sent(session: SendResult, out: Outgoing) -> None:
    why = session.diagnostics()
    text, parts = joined(session.sent, out.recipient)
    assert (text, parts) == (out.text, out.parts), why
    if out.parts > 1:
        concats = [s["concat"] for s in session.sent if s.get("recipient") == out.recipient]
        assert sorted(c["seq"] for c in concats) == list(range(1, out.parts + 1)), why
        assert {c["total"] for c in concats} == {out.parts}, why
        assert len({c["ref"] for c in concats}) == 1, why


def test_peer_took_the_modems_message_references(session: SendResult) -> None:
    why = session.diagnostics()
    assert session.errors == [], why
    for out in OUTGOING:
        mrs = sorted(s["mr"] for s in session.sent if s.get("recipient") == out.recipient)
        assert sorted(session.peer_outcome[out.recipient]["mr"]) == mrs, why
    assert "failed" not in session.peer_outcome, why


def test_gammu_read_the_status_reports_where_it_could(session: SendResult) -> None:
    if session.peer != GammuSmsd.name:
        pytest.skip("smstools3 sends without asking for status reports")
    why = session.diagnostics()
    assert session.errors == [], why
    parts = sum(out.parts for out in OUTGOING)
    if session.profile == REPORTS_APART:
        assert len(session.reports_in_sr) == parts, why
        assert {s["recipient"] for s in session.sent if s["srr"]} == {out.recipient for out in OUTGOING}, why
    else:
        statuses = [st for out in OUTGOING for st in session.peer_outcome[out.recipient]["status"]]
        assert statuses == ["DeliveryOK"] * parts, why

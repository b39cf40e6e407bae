"""AT channel against a scripted fake modem on a real pty: finals, errors, URCs, prompt, faults."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simhost_drivers.at import (
    AtChannel,
    CallFailedError,
    CommandError,
    CommandInterruptedError,
    CommandTimeoutError,
    ConnectionLostError,
    InvalidMemoryIndexError,
    InvalidParameterError,
    MemoryFullError,
    NotSupportedError,
    PortOpenError,
    SimNotInsertedError,
)
from simhost_drivers.at.codes import COMMAND_NOT_SUPPORT
from simhost_drivers.at.trace import TRACE
from tests.drivers.fakemodem import FakeModem, frame

WAIT_S = 5.0
SHORT_TIMEOUT_S = 0.3
PDU1 = "07919761989901F0040B919761123456F800001220111232452104D4F29C0E"
PDU2 = "07919761989901F0040B919761654321F800001220111232552104C8329BFD06"


class Urcs:
    """Collects unsolicited lines handed to a handler, with a condition to wait on."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self._cond = threading.Condition()

    def __call__(self, line: str, pdu: str | None) -> None:
        with self._cond:
            self.seen.append((line, pdu))
            self._cond.notify_all()

    def wait(self, count: int) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.seen) >= count, WAIT_S)


@pytest.fixture
def modem() -> Iterator[FakeModem]:
    with FakeModem() as m:
        yield m


@pytest.fixture
def channel(modem: FakeModem) -> Iterator[AtChannel]:
    ch = AtChannel.open(modem.path, name="fake0")
    yield ch
    ch.close()


def settle(modem: FakeModem, channel: AtChannel) -> None:
    """Wait until the channel has read everything sent so far (a sentinel URC came through)."""
    sentinel = Urcs()
    channel.register_urc("+SENTINEL:", sentinel)
    modem.send(frame("+SENTINEL: 1"))
    assert sentinel.wait(1)


def test_ok_returns_information_lines(modem: FakeModem, channel: AtChannel) -> None:
    modem.on("AT+CSQ", "+CSQ: 21,99", "OK")
    response = channel.command("AT+CSQ", expect=("+CSQ:",))
    assert response.lines == ("+CSQ: 21,99",)
    assert response.value("+CSQ:") == "21,99"
    assert response.final == "OK"


@pytest.mark.parametrize(("final", "error"), [
    ("ERROR", CommandError),
    ("NO CARRIER", CallFailedError),
    ("BUSY", CallFailedError),
    ("NO ANSWER", CallFailedError),
    ("NO DIALTONE", CallFailedError),
])
def test_failure_finals(modem: FakeModem, channel: AtChannel, final: str,
                        error: type[CommandError]) -> None:
    modem.on("ATD123;", final)
    with pytest.raises(error) as caught:
        channel.command("ATD123;")
    assert caught.value.final == final
    assert caught.value.code is None


@pytest.mark.parametrize("command", ["AT+CLCC", "ATH", "AT+CHUP", "AT"])
def test_no_carrier_crossing_another_command_is_unsolicited(modem: FakeModem, channel: AtChannel,
                                                            command: str) -> None:
    ended = Urcs()
    channel.register_urc("NO CARRIER", ended)
    modem.on(command, "NO CARRIER", '+CLCC: 1,1,4,0,0,"+79161234567",145', "OK")
    response = channel.command(command, expect=("+CLCC:",))
    assert response.final == "OK"
    assert response.lines == ('+CLCC: 1,1,4,0,0,"+79161234567",145',)
    assert ended.wait(1)
    assert ended.seen == [("NO CARRIER", None)]
    assert response.final_at == channel.last_final_at > 0


def test_no_carrier_without_a_route_is_no_bare_answer_line(modem: FakeModem, channel: AtChannel) -> None:
    modem.on("AT+CGSN", "NO CARRIER", "861234567890123", "OK")
    assert channel.command("AT+CGSN", expect=None).lines == ("861234567890123",)


def test_finals_match_whole_lines_only(modem: FakeModem, channel: AtChannel) -> None:
    modem.on("AT+X", "OKAY", "ERRORS", "+CME ERROR:", "OK")
    response = channel.command("AT+X", expect=("OK", "ERR", "+CME"))
    assert response.lines == ("OKAY", "ERRORS", "+CME ERROR:")


def test_vendor_final_only_when_declared(modem: FakeModem) -> None:
    modem.on("AT^X", "COMMAND NOT SUPPORT")
    with AtChannel.open(modem.path, name="plain") as ch, pytest.raises(CommandTimeoutError):
        ch.command("AT^X", timeout_s=SHORT_TIMEOUT_S)
    huawei = AtChannel.open(modem.path, name="huawei", finals=[COMMAND_NOT_SUPPORT])
    with huawei, pytest.raises(NotSupportedError):
        huawei.command("AT^X")


@pytest.mark.parametrize(("final", "error", "code"), [
    ("+CME ERROR: 10", SimNotInsertedError, 10),
    ("+CMS ERROR: 310", SimNotInsertedError, 310),
    ("+CMS ERROR: 321", InvalidMemoryIndexError, 321),
    ("+CMS ERROR: 322", MemoryFullError, 322),
    ("+CMS ERROR: 304", InvalidParameterError, 304),
    ("+CME ERROR: 999", CommandError, 999),
])
def test_cme_cms_codes_map_to_exceptions(modem: FakeModem, channel: AtChannel, final: str,
                                         error: type[CommandError], code: int) -> None:
    modem.on("AT+CMGR=5", final)
    with pytest.raises(error) as caught:
        channel.command("AT+CMGR=5")
    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.source == final[1:4]


def test_urc_inside_a_listing_goes_to_its_handler(modem: FakeModem, channel: AtChannel) -> None:
    cmti = Urcs()
    channel.register_urc("+CMTI:", cmti)
    modem.on("AT+CMGL=4", "+CMGL: 1,1,,24", PDU1, '+CMTI: "SM",3', "+CMGL: 2,0,,25", PDU2, "OK")
    response = channel.command("AT+CMGL=4", expect=("+CMGL:",), pdu=True)
    assert response.lines == ("+CMGL: 1,1,,24", "+CMGL: 2,0,,25")
    assert response.pdus == (PDU1, PDU2)
    assert cmti.wait(1)
    assert cmti.seen == [('+CMTI: "SM",3', None)]


def test_urc_between_a_header_and_its_pdu(modem: FakeModem, channel: AtChannel) -> None:
    cmti, cmt = Urcs(), Urcs()
    channel.register_urc("+CMTI:", cmti)
    channel.register_urc("+CMT:", cmt, pdu=True)
    modem.on("AT+CMGL=4", "+CMGL: 1,1,,24", '+CMTI: "SM",1', PDU1, "+CMGL: 2,0,,25", PDU2, "OK")
    response = channel.command("AT+CMGL=4", expect=("+CMGL:",), pdu=True)
    assert response.pdus == (PDU1, PDU2)
    modem.send(frame("+CMT: ,24", '+CMTI: "SM",2', PDU2))
    assert cmti.wait(2)
    assert cmt.wait(1)
    assert cmt.seen == [("+CMT: ,24", PDU2)]
    assert [line for line, _ in cmti.seen] == ['+CMTI: "SM",1', '+CMTI: "SM",2']


def test_two_line_cmt_during_a_command(modem: FakeModem, channel: AtChannel) -> None:
    cmt = Urcs()
    channel.register_urc("+CMT:", cmt, pdu=True)
    modem.on("AT+CSQ", "+CSQ: 10,0", "+CMT: ,24", PDU1, "OK")
    response = channel.command("AT+CSQ", expect=("+CSQ:",))
    assert response.lines == ("+CSQ: 10,0",)
    assert cmt.wait(1)
    assert cmt.seen == [("+CMT: ,24", PDU1)]


def test_two_line_urc_between_commands(modem: FakeModem, channel: AtChannel) -> None:
    cds = Urcs()
    channel.register_urc("+CDS:", cds, pdu=True)
    modem.send(frame("+CDS: 24", PDU2))
    assert cds.wait(1)
    assert cds.seen == [("+CDS: 24", PDU2)]


def test_bare_answer_leaves_known_urcs_out(modem: FakeModem, channel: AtChannel) -> None:
    ring = Urcs()
    channel.register_urc("RING", ring)
    modem.on("AT+CGSN", "RING", "861234567890123", "OK")
    response = channel.command("AT+CGSN", expect=None)
    assert response.lines == ("861234567890123",)
    assert ring.wait(1)


def test_echo_is_dropped() -> None:
    with FakeModem(echo=True) as modem, AtChannel.open(modem.path, name="echo") as channel:
        modem.on("AT+CGSN", "861234567890123", "OK")
        assert channel.command("AT+CGSN", expect=None).lines == ("861234567890123",)


def test_prompt_then_payload_and_ctrl_z(modem: FakeModem, channel: AtChannel) -> None:
    modem.on("AT+CMGS=18", "+CMGS: 42", "OK", prompt=True)
    response = channel.command_with_prompt("AT+CMGS=18", "0011000B919761123456F80000AA0161",
                                           expect=("+CMGS:",))
    assert response.value("+CMGS:") == "42"
    assert modem.payloads == ["0011000B919761123456F80000AA0161"]


def test_error_instead_of_prompt(modem: FakeModem, channel: AtChannel) -> None:
    modem.on("AT+CMGS=3", "+CMS ERROR: 304")
    with pytest.raises(InvalidParameterError):
        channel.command_with_prompt("AT+CMGS=3", "00", expect=("+CMGS:",))
    assert modem.payloads == []


def test_garbage_then_recovery(modem: FakeModem, channel: AtChannel) -> None:
    modem.send(b"\xff\xfe\x00\x13 noise \x07\x80\r\n\x00\x00\xc3\xa9\xff")
    modem.send(b"\r\n" + b"\xaa" * 10000)
    settle(modem, channel)
    modem.on("AT+CSQ", "+CSQ: 5,99", "OK")
    assert channel.command("AT+CSQ", expect=("+CSQ:",)).lines == ("+CSQ: 5,99",)
    assert channel.junk_bytes > 10000


def test_timeout_then_resync_discards_the_late_reply(modem: FakeModem, channel: AtChannel) -> None:
    modem.silent("AT+SLOW")

    def probe(m: FakeModem, _cmd: str) -> None:
        # The late answer of AT+SLOW arrives first; the probe's own answer follows.
        m.send(frame("+SLOW: late", "OK", "+CMEE: 1", "OK"))

    modem.on_call("AT+CMEE?", probe)
    with pytest.raises(CommandTimeoutError) as caught:
        channel.command("AT+SLOW", expect=("+SLOW:",), timeout_s=SHORT_TIMEOUT_S)
    assert isinstance(caught.value, TimeoutError)
    assert channel.consecutive_timeouts == 1

    modem.on_call("AT+CSQ", lambda m, _c: m.send(frame("+CSQ: 7,99", "OK")))
    response = channel.command("AT+CSQ", expect=("+CSQ:",))
    assert response.lines == ("+CSQ: 7,99",)
    assert channel.consecutive_timeouts == 0
    assert modem.commands == ["AT+SLOW", "AT+CMEE?", "AT+CSQ"]


def test_a_handler_can_give_up_the_command_in_flight(modem: FakeModem) -> None:
    """A modem restarting under a long command: its boot banner ends the wait at once, not at the timeout,
    and the channel resynchronises before the next command."""
    modem.on_call("AT+CMGL=4", lambda m, _c: m.send(frame("RDY")))  # restarted instead of answering
    modem.on("AT+CMEE?", "+CMEE: 1", "OK")
    modem.on("AT+CSQ", "+CSQ: 9,99", "OK")
    with AtChannel.open(modem.path, name="boot") as channel:
        channel.register_urc("RDY", lambda line, _pdu: channel.interrupt(f"the modem restarted ({line})"))
        started = time.monotonic()
        with pytest.raises(CommandInterruptedError, match="restarted"):
            channel.command("AT+CMGL=4", expect=("+CMGL:",), timeout_s=30.0)
        assert time.monotonic() - started < WAIT_S
        assert channel.command("AT+CSQ", expect=("+CSQ:",)).lines == ("+CSQ: 9,99",)
        assert modem.commands[-2:] == ["AT+CMEE?", "AT+CSQ"]
        channel.interrupt("nothing in flight: no effect")
        assert channel.command("AT+CSQ", expect=("+CSQ:",)).lines == ("+CSQ: 9,99",)


def test_resync_after_a_hang_that_dropped_commands(modem: FakeModem) -> None:
    for silent in ("AT+HANG", "AT+CMEE?", "AT+CMGF?"):
        modem.silent(silent)
    with AtChannel.open(modem.path, name="hang", resync_timeout_s=SHORT_TIMEOUT_S) as channel:
        with pytest.raises(CommandTimeoutError):
            channel.command("AT+HANG", timeout_s=SHORT_TIMEOUT_S)
        # Still silent: the next command is not even sent.
        with pytest.raises(CommandTimeoutError, match="resynchronisation"):
            channel.command("AT+CSQ", expect=("+CSQ:",))
        assert "AT+CSQ" not in modem.commands
        # It wakes up: late answers to AT+HANG and the first probe; the second probe was lost.
        modem.send(frame("OK", "+CMEE: 1", "OK"))
        modem.on("AT+CSCS?", '+CSCS: "GSM"', "OK")
        modem.on("AT+CSQ", "+CSQ: 9,99", "OK")
        assert channel.command("AT+CSQ", expect=("+CSQ:",)).lines == ("+CSQ: 9,99",)
        assert modem.commands == ["AT+HANG", "AT+CMEE?", "AT+CMGF?", "AT+CSCS?", "AT+CSQ"]


def test_prompt_timeout_sends_escape(modem: FakeModem, channel: AtChannel) -> None:
    modem.silent("AT+CMGS=5")
    modem.on("AT+CMEE?", "+CMEE: 1", "OK")
    with pytest.raises(CommandTimeoutError):
        channel.command_with_prompt("AT+CMGS=5", "0011", timeout_s=SHORT_TIMEOUT_S)
    modem.on("AT", "OK")
    channel.command("AT")
    assert modem.commands == ["AT+CMGS=5", "AT+CMEE?", "AT"]
    assert modem.received.count(b"\x1b") == 1


def test_connection_lost(modem: FakeModem) -> None:
    lost: list[ConnectionLostError] = []
    got_lost = threading.Event()

    def on_lost(exc: ConnectionLostError) -> None:
        lost.append(exc)
        got_lost.set()

    channel = AtChannel.open(modem.path, name="unplug")
    channel.on_connection_lost = on_lost
    try:
        modem.silent("AT+CMGL=4")

        def unplug_when_sent() -> None:
            modem.wait_for_command("AT+CMGL=4")
            modem.unplug()

        killer = threading.Thread(target=unplug_when_sent)
        killer.start()
        with pytest.raises(ConnectionLostError):
            channel.command("AT+CMGL=4", expect=("+CMGL:",), timeout_s=WAIT_S)
        killer.join()
        assert got_lost.wait(WAIT_S)
        assert len(lost) == 1
        assert channel.closed
        assert not any(t.name == "at-reader-unplug" and t.is_alive() for t in threading.enumerate())
        with pytest.raises(ConnectionLostError):
            channel.command("AT")
    finally:
        channel.close()
    assert len(lost) == 1


def test_close_fails_a_waiting_command_without_calling_back(modem: FakeModem) -> None:
    lost: list[ConnectionLostError] = []
    channel = AtChannel.open(modem.path, name="closing")
    channel.on_connection_lost = lost.append
    modem.silent("AT+WAIT")

    def close_when_sent() -> None:
        modem.wait_for_command("AT+WAIT")
        channel.close()

    closer = threading.Thread(target=close_when_sent)
    closer.start()
    with pytest.raises(ConnectionLostError):
        channel.command("AT+WAIT", timeout_s=WAIT_S)
    closer.join()
    assert lost == []


def test_handler_exception_does_not_kill_the_reader(modem: FakeModem, channel: AtChannel) -> None:
    def broken(line: str, pdu: str | None) -> None:
        raise RuntimeError("handler bug")

    good = Urcs()
    channel.register_urc("+BAD:", broken)
    channel.register_urc("+GOOD:", good)
    modem.send(frame("+BAD: 1", "+GOOD: 2"))
    assert good.wait(1)
    modem.on("AT", "OK")
    assert channel.command("AT").final == "OK"
    assert not channel.closed


def test_vendor_handlers_take_precedence(modem: FakeModem, channel: AtChannel) -> None:
    generic, vendor, longer = Urcs(), Urcs(), Urcs()
    channel.register_urc("+CMTI:", generic)
    channel.register_urc("+CMTI:", vendor, vendor=True)
    channel.register_urc("^SIMST", longer)
    channel.register_urc("^SIM", generic)
    modem.send(frame('+CMTI: "SM",1', "^SIMST: 1"))
    assert vendor.wait(1)
    assert longer.wait(1)
    assert vendor.seen == [('+CMTI: "SM",1', None)]
    assert longer.seen == [("^SIMST: 1", None)]
    assert generic.seen == []


def test_ignored_noise_is_not_part_of_a_bare_answer(modem: FakeModem, channel: AtChannel) -> None:
    channel.ignore(["^RSSI:", "^BOOT:"])
    modem.on("AT+CIMI", "^RSSI: 17", "250991234567890", "^BOOT:1,0,0,0,0", "OK")
    assert channel.command("AT+CIMI", expect=None).lines == ("250991234567890",)


def test_lone_cr_and_lone_lf_end_lines(modem: FakeModem, channel: AtChannel) -> None:
    modem.on_call("AT+CSQ", lambda m, _c: m.send(b"\n+CSQ: 3,99\rOK\n"))
    assert channel.command("AT+CSQ", expect=("+CSQ:",)).lines == ("+CSQ: 3,99",)


def test_spy_url_is_accepted(modem: FakeModem, tmp_path: Path) -> None:
    log = f"{tmp_path}/spy.txt"
    modem.on("AT", "OK")
    with AtChannel.open(f"spy://{modem.path}?file={log}", name="spy") as channel:
        assert channel.command("AT").final == "OK"
    with open(log) as f:
        assert "OK" in f.read()


def test_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PortOpenError, match="cannot open"):
        AtChannel.open(f"{tmp_path}/no-such-port")


def test_bad_command_text_is_refused(channel: AtChannel) -> None:
    with pytest.raises(ValueError, match="single ASCII AT command"):
        channel.command("AT\rATZ")
    with pytest.raises(ValueError, match="Ctrl-Z"):
        channel.command_with_prompt("AT+CMGS=1", "00\x1a")


def test_wire_trace_per_port(modem: FakeModem, channel: AtChannel,
                             caplog: pytest.LogCaptureFixture) -> None:
    modem.on("AT", "OK")
    with caplog.at_level(TRACE, logger="simhost_drivers.at.wire.fake0"):
        channel.command("AT")
        settle(modem, channel)
    wire = [r for r in caplog.records if r.name == "simhost_drivers.at.wire.fake0"]
    assert {r.levelname for r in wire} == {"TRACE"}
    assert any("tx b'AT\\r'" in r.getMessage() for r in wire)
    assert any("rx" in r.getMessage() and "OK" in r.getMessage() for r in wire)


class TcpModem:
    """A modem behind socket://: answers `AT` with OK, and can drop the connection."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, name="tcp-modem")
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        self.conn = conn
        buffer = b""
        while True:
            try:
                data = conn.recv(1024)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\r" in buffer:
                line, buffer = buffer.split(b"\r", 1)
                conn.sendall(frame("OK" if line.strip() == b"AT" else "ERROR"))

    def drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):  # already shut down
                self.conn.shutdown(socket.SHUT_RDWR)
        self.thread.join(WAIT_S)

    def close(self) -> None:
        self.drop()
        if self.conn is not None:
            self.conn.close()
        self.server.close()


def test_socket_url_and_its_connection_loss() -> None:
    tcp = TcpModem()
    lost = threading.Event()
    try:
        channel = AtChannel.open(f"socket://127.0.0.1:{tcp.port}", name="tcp")
        channel.on_connection_lost = lambda exc: lost.set()
        try:
            assert channel.command("AT").final == "OK"
            with pytest.raises(CommandError):
                channel.command("AT+NOPE")
            tcp.drop()
            assert lost.wait(WAIT_S)
            with pytest.raises(ConnectionLostError):
                channel.command("AT")
        finally:
            channel.close()
    finally:
        tcp.close()

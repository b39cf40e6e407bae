"""The SMPP server against python-smpplib, the customer's client: binds, deliver_sm of messages and calls,
unacknowledged messages after a rebind, submit_sm and receipts, hostile PDUs."""

from __future__ import annotations

import io
import socket
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
import smpplib.exceptions
from sqlalchemy import select, update

from simhost.sending.models import DELIVERED, FAILED, QUEUED, Send
from simhost.smpp import pdu
from tests.router.routerlib import VIRTUAL, cli
from tests.smpp.smpplib_rig import PASSWORD, Customer, reference, server, site, text_of

LONG_RU = ("Уважаемый клиент! Ваш код подтверждения 4821. Никому не сообщайте этот код, даже сотрудникам банка. "
           "Если вы не запрашивали код, позвоните нам по номеру на обороте карты.")


def test_a_wrong_password_or_system_id_is_refused_with_the_smpp_error(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        for system_id, password in (("acme", "wrong1"), ("nobody", PASSWORD)):
            with pytest.raises(smpplib.exceptions.PDUError) as refused:
                Customer(srv.address[1], system_id=system_id, password=password)
            assert refused.value.args[1] == pdu.RINVPASWD
        cli(s.db_url, "owner", "disable", "acme")
        with pytest.raises(smpplib.exceptions.PDUError) as disabled:
            Customer(srv.address[1])
        assert disabled.value.args[1] == pdu.RBINDFAIL


def test_a_three_part_ucs2_message_and_a_call_arrive_as_deliver_sm(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        sms = s.route(LONG_RU)
        call = s.route("[CALL]", kind="call", sender="+79161234567", sender_type="international")
        c = Customer(srv.address[1])
        try:
            assert c.read_until(lambda: len(c.got.pdus) == 4)
            parts = [p for p in c.got.pdus if p.esm_class & 0x40]
            assert len(parts) == 3
            assert {reference(p)[1:] for p in parts} == {(3, 1), (3, 2), (3, 3)}  # type: ignore[index]
            assert len({reference(p)[0] for p in parts}) == 1  # type: ignore[index]
            assert all(p.data_coding == 8 for p in parts)
            assert text_of(parts) == LONG_RU
            assert parts[0].source_addr_ton == 5
            assert parts[0].source_addr.decode() == "????????"  # a Cyrillic alphanumeric name has no ASCII form
            assert parts[0].destination_addr.decode() == VIRTUAL.lstrip("+")
            (ring,) = [p for p in c.got.pdus if not p.esm_class & 0x40]
            assert ring.data_coding == 0
            assert ring.short_message == b"\x1b<CALL\x1b>"  # GSM 7-bit: [ and ] are escaped
            assert text_of([ring]) == "[CALL]"
            assert (ring.source_addr.decode(), ring.source_addr_ton, ring.source_addr_npi) == ("79161234567", 1, 1)
            assert s.wait(srv, lambda: s.delivery(sms).state == s.delivery(call).state == "delivered")
            assert s.wait(srv, lambda: srv.metrics.registry.get_sample_value(
                "simhost_delivery_tries_total", {"channel": "smpp", "result": "delivered"}) == 2)
        finally:
            c.close()


def test_a_customer_may_take_long_messages_as_one_message_payload(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        cli(s.db_url, "owner", "forward", "acme", "--smpp-long-mode", "payload")
        s.route(LONG_RU)
        c = Customer(srv.address[1])
        try:
            assert c.read_until(lambda: len(c.got.pdus) == 1)
            (p,) = c.got.pdus
            assert not p.esm_class & 0x40
            assert p.message_payload.decode("utf-16-be") == LONG_RU
        finally:
            c.close()


def test_messages_left_unanswered_at_unbind_come_again_after_the_next_bind(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        ids = [s.route(f"message {i}") for i in range(5)]
        first = Customer(srv.address[1])
        unanswered = first.read_raw(5)
        assert [p.command for p in unanswered] == ["deliver_sm"] * 5
        first.client.disconnect()  # gone without a single deliver_sm_resp
        assert s.wait(srv, lambda: all(s.attempts(m) and s.attempts(m)[-1].result == "released" for m in ids))
        assert all(s.delivery(m).state == "pending" and s.delivery(m).tries == 0 for m in ids)
        again = Customer(srv.address[1])
        try:
            assert again.read_until(lambda: len(again.got.pdus) == 5)
            assert sorted(p.short_message.decode() for p in again.got.pdus) == [f"message {i}" for i in range(5)]
            assert s.wait(srv, lambda: all(s.delivery(m).state == "delivered" for m in ids))
        finally:
            again.close()


def test_an_error_answer_is_tried_again_later(tmp_path: Path) -> None:
    answers = iter([pdu.RX_T_APPN])
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        mid = s.route("retry me")
        c = Customer(srv.address[1], answer=lambda _p: next(answers, None))
        try:
            assert c.read_until(lambda: len(c.got.pdus) == 2)
            assert s.wait(srv, lambda: s.delivery(mid).state == "delivered")
            assert [(a.result, a.status_code) for a in s.attempts(mid)] == [("retry", pdu.RX_T_APPN),
                                                                            ("delivered", 0)]
        finally:
            c.close()


def test_a_submitted_message_becomes_a_send_and_its_receipt_comes_back(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        c = Customer(srv.address[1])
        try:
            c.client.send_message(source_addr_ton=1, source_addr=VIRTUAL.lstrip("+"), dest_addr_ton=1,
                                  destination_addr="79161234567", short_message="Привет".encode("utf-16-be"),
                                  data_coding=8, registered_delivery=1)
            assert c.read_until(lambda: len(c.sent) == 1)
            assert c.sent[0].status == 0
            send_id = c.sent[0].message_id.decode()
            with s.sessions() as db:
                row = db.get(Send, send_id)
                assert row is not None
                assert (row.state, row.text, row.to_number, row.from_number, row.source) == (
                    QUEUED, "Привет", "+79161234567", VIRTUAL, "smpp")
            with s.sessions.begin() as db:  # the network's status report, as the gateway records it
                db.execute(update(Send).where(Send.id == send_id).values(state=DELIVERED,
                                                                        updated_at=datetime.now(UTC)))
            assert c.read_until(lambda: len(c.got.pdus) == 1)
            (receipt,) = c.got.pdus
            assert receipt.esm_class == pdu.ESM_RECEIPT
            assert receipt.receipted_message_id.decode().rstrip("\0") == send_id
            assert f"id:{send_id} ".encode() in receipt.short_message
            assert b"stat:DELIVRD" in receipt.short_message
            assert s.wait(srv, lambda: s.sessions().get(Send, send_id).receipt_sent_at is not None)  # type: ignore[union-attr]
        finally:
            c.close()


def test_a_long_submitted_message_in_udh_parts_is_one_send(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        c = Customer(srv.address[1])
        try:
            pieces = [LONG_RU[:67], LONG_RU[67:134], LONG_RU[134:]]
            for seq, piece in enumerate(pieces, 1):
                c.client.send_message(source_addr_ton=1, source_addr="", dest_addr_ton=1,
                                      destination_addr="79161234567", esm_class=0x40, data_coding=8,
                                      short_message=bytes([5, 0, 3, 0x2A, 3, seq]) + piece.encode("utf-16-be"))
            assert c.read_until(lambda: len(c.sent) == 3)
            assert [r.status for r in c.sent] == [0, 0, 0]
            assert len({r.message_id for r in c.sent}) == 1
            with s.sessions() as db:
                (row,) = db.scalars(select(Send)).all()
                assert (row.text, row.state, row.requested_from) == (LONG_RU, QUEUED, "shared")
        finally:
            c.close()


def test_submit_refusals_carry_smpp_errors(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        c = Customer(srv.address[1])
        try:
            for dest, source, coding, want in (("not-a-number", "", 0, pdu.RINVDSTADR),
                                              ("79161234567", "BANK", 0, pdu.RINVSRCADR),
                                              ("79161234567", "", 2, pdu.RSUBMITFAIL),
                                              ("79161234567", "79990000000", 0, pdu.RSUBMITFAIL)):
                before = len(c.sent)
                c.client.send_message(source_addr_ton=1, source_addr=source, dest_addr_ton=1, destination_addr=dest,
                                      short_message=b"hi", data_coding=coding)
                assert c.read_until(lambda b=before: len(c.sent) > b)  # type: ignore[misc]
                assert c.sent[-1].status == want, (dest, source, coding)
            with s.sessions() as db:
                assert [r.state for r in db.scalars(select(Send))] == [FAILED]  # only the one accept() refused
        finally:
            c.close()


def _raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def _read_pdu(sock: socket.socket) -> tuple[int, int, int, bytes]:
    header = b""
    while len(header) < 16:
        chunk = sock.recv(16 - len(header))
        if not chunk:
            raise ConnectionError("closed")
        header += chunk
    length, command_id, status, seq = struct.unpack(">IIII", header)
    body = b""
    while len(body) < length - 16:
        body += sock.recv(length - 16 - len(body))
    return command_id, status, seq, body


def test_hostile_pdus_get_an_error_status_and_the_server_stays_up(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        port = srv.address[1]
        with _raw(port) as sock:  # a submit before any bind
            sock.sendall(pdu.encode(pdu.SUBMIT_SM, 7, b"\0" * 30))
            assert _read_pdu(sock)[:3] == (pdu.SUBMIT_SM | pdu.RESPONSE, pdu.RINVBNDSTS, 7)
            sock.sendall(pdu.encode(0x0777, 8))  # an unknown command
            assert _read_pdu(sock)[:3] == (pdu.GENERIC_NACK, pdu.RINVBNDSTS, 8)
            sock.sendall(pdu.encode(pdu.BIND_TRANSCEIVER, 9, b"x" * 40))  # a system_id with no end
            assert _read_pdu(sock)[:3] == (pdu.BIND_TRANSCEIVER | pdu.RESPONSE, pdu.RINVMSGLEN, 9)
            sock.sendall(struct.pack(">IIII", 0x7FFFFFFF, pdu.ENQUIRE_LINK, 0, 10))  # a 2 GB PDU
            assert _read_pdu(sock)[:3] == (pdu.GENERIC_NACK, pdu.RINVCMDLEN, 10)
            with pytest.raises(ConnectionError):
                _read_pdu(sock)
        with _raw(port) as sock:  # a receiver may not submit
            sock.sendall(pdu.encode(pdu.BIND_RECEIVER, 1, b"acme\0" + PASSWORD.encode() + b"\0\0\x34\0\0\0"))
            assert _read_pdu(sock)[:2] == (pdu.BIND_RECEIVER | pdu.RESPONSE, 0)
            sock.sendall(pdu.encode(pdu.SUBMIT_SM, 2, b"\0" * 30))
            assert _read_pdu(sock)[:3] == (pdu.SUBMIT_SM | pdu.RESPONSE, pdu.RINVBNDSTS, 2)
        c = Customer(port)  # still serving
        c.close()


def test_enquire_link_both_ways(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s, enquire_s=0.5, response_timeout_s=2.0) as srv:
        assert srv.address is not None
        with _raw(srv.address[1]) as sock:
            sock.sendall(pdu.encode(pdu.ENQUIRE_LINK, 1))
            assert _read_pdu(sock)[:3] == (pdu.ENQUIRE_LINK | pdu.RESPONSE, 0, 1)
            body = b"acme\0" + PASSWORD.encode() + b"\0\0\x34\0\0\0"
            sock.sendall(pdu.encode(pdu.BIND_TRANSCEIVER, 2, body))
            assert _read_pdu(sock)[:2] == (pdu.BIND_TRANSCEIVER | pdu.RESPONSE, 0)
            command_id, _status, seq, _body = _read_pdu(sock)  # quiet: the server asks whether we are there
            assert command_id == pdu.ENQUIRE_LINK
            sock.sendall(pdu.encode(pdu.ENQUIRE_LINK | pdu.RESPONSE, seq))
            command_id, *_ = _read_pdu(sock)  # answered, so asked again later rather than dropped
            assert command_id == pdu.ENQUIRE_LINK
            sock.settimeout(10)
            with pytest.raises(ConnectionError):  # unanswered this time: the server closes the session
                _read_pdu(sock)


def test_deliver_sm_reads_the_same_in_an_independent_codec(tmp_path: Path) -> None:
    from smpp.pdu.pdu_encoding import PDUEncoder  # Jasmin's codec

    from simhost.smpp import text

    (m,) = text.deliveries("x", text.address("+79161234567", "international"), VIRTUAL, "Hello [x]", None, "udh")
    decoded = PDUEncoder().decode(io.BytesIO(pdu.encode(pdu.DELIVER_SM, 3, pdu.short_message_body(m))))
    assert decoded.params["source_addr"] == b"79161234567"
    assert decoded.params["destination_addr"] == VIRTUAL.lstrip("+").encode()
    assert decoded.params["short_message"] == bytes([0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x20, 0x1B, 0x3C, 0x78, 0x1B,
                                                     0x3E])  # GSM 7-bit, unpacked, [ and ] escaped


def test_owner_forward_makes_an_smpp_password_once_and_keeps_system_ids_apart(tmp_path: Path) -> None:
    from tests.registry.test_registry_cli import Cli

    c = Cli(f"sqlite:///{tmp_path}/simhost.db")
    c.ok("db", "upgrade")
    c.ok("owner", "add", "acme")
    c.ok("owner", "add", "beta")
    made = c.ok("owner", "forward", "acme", "--smpp-system-id", "acme")
    assert "SMPP password (shown only now): " in made
    assert "SMPP password" not in c.ok("owner", "forward", "acme", "--smpp-long-mode", "payload")
    shown = c.json("owner", "show", "acme")["forwarding"]
    assert (shown["smpp_system_id"], shown["smpp_password"], shown["smpp_long_mode"]) == ("acme", "set", "payload")
    assert "belongs to another customer" in c.fails("owner", "forward", "beta", "--smpp-system-id", "acme")
    assert "8 printable ASCII" in c.fails("owner", "forward", "acme", "--smpp-password", "much-too-long")
    assert "printable ASCII" in c.fails("owner", "forward", "acme", "--smpp-system-id", "ак ме")


def test_eight_bit_data_arrives_as_data_coding_4_and_a_broken_payload_fails_alone(tmp_path: Path) -> None:
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        data = s.route(None, data_hex="0102ff")
        broken = s.route(None, data_hex="not hex")
        after = s.route("after the broken one")
        c = Customer(srv.address[1])
        try:
            assert c.read_until(lambda: len(c.got.pdus) == 2)
            assert [(p.data_coding, p.short_message) for p in c.got.pdus] == [(4, b"\x01\x02\xff"),
                                                                            (0, b"after the broken one")]
            assert s.wait(srv, lambda: s.delivery(after).state == "delivered" == s.delivery(data).state)
            assert s.delivery(broken).state == "failed"
            assert "cannot be put in a deliver_sm" in (s.delivery(broken).last_error or "")
        finally:
            c.close()


def test_what_one_client_can_hold_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simhost.smpp import server as smpp_server

    monkeypatch.setattr(smpp_server, "MAX_BINDS_PER_ACCOUNT", 2)
    monkeypatch.setattr(smpp_server, "MAX_ASSEMBLIES_PER_ACCOUNT", 2)
    monkeypatch.setattr(smpp_server, "MAX_CONNECTIONS", 3)
    with site(tmp_path) as s, server(s) as srv:
        assert srv.address is not None
        port = srv.address[1]
        first, second = Customer(port), Customer(port)
        try:
            with pytest.raises(smpplib.exceptions.PDUError) as third:
                Customer(port)
            assert third.value.args[1] == pdu.RBINDFAIL
            for ref in (1, 2, 3):  # the first part of three long messages, none finished
                first.client.send_message(source_addr_ton=1, source_addr="", dest_addr_ton=1,
                                          destination_addr="79161234567", esm_class=0x40, data_coding=8,
                                          short_message=bytes([5, 0, 3, ref, 2, 1]) + "часть".encode("utf-16-be"))
            assert first.read_until(lambda: len(first.sent) == 3)
            assert [r.status for r in first.sent] == [0, 0, pdu.RMSGQFUL]
            with _raw(port) as a, _raw(port) as b:  # two bound, one open: the next is closed at once
                a.sendall(pdu.encode(pdu.ENQUIRE_LINK, 1))
                assert _read_pdu(a)[:3] == (pdu.ENQUIRE_LINK | pdu.RESPONSE, 0, 1)
                b.sendall(pdu.encode(pdu.ENQUIRE_LINK, 1))
                with pytest.raises(ConnectionError):
                    _read_pdu(b)
        finally:
            first.close()
            second.close()

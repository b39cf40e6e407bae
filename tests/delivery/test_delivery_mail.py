"""E-mail delivery against a real SMTP server (aiosmtpd): how a message reads in any script, calls, one stable
Message-ID, several addresses, STARTTLS, implicit TLS and AUTH, 4xx retried, 5xx failed, header injection, and the
SIMHOST_SMTP checks made when the service is built."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from simhost.config import ConfigError, Settings
from simhost.delivery.channels import Customer, Item, Result
from simhost.delivery.mail import MailChannel, SmtpServer, message_id
from simhost.delivery.models import DELIVERED, FAILED, PENDING
from simhost.delivery.service import DeliveryService
from simhost.router.decide import Decision, routed_payload
from tests.cli.clilib import fails
from tests.delivery.deliverylib import running, site
from tests.router.routerlib import VIRTUAL, cli, inbound

FAST = {"retry_s": 0.05, "timeout_s": 2.0, "poll_s": 0.2}
WAIT_S = 15.0
USER, PASSWORD = "sms@bank", "pa:ss/w@rd"  # what the URL carries percent-encoded
FROM = "SIM-банк <sms@simhost.example>"


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def body(self) -> str:
        """The text as a mail program shows it (base64 text carries the canonical CRLF line ends)."""
        return str(self.message.get_content()).replace("\r\n", "\n")

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Mailbox:
    """The server's handler: refuses the recipients in `refuse` (address → reply), answers DATA from `script`
    (replies, then 250) and records every DATA it was sent, accepted or not."""

    refuse: dict[str, str] = field(default_factory=dict)
    script: list[str] = field(default_factory=list)
    offered: list[Mail] = field(default_factory=list)
    accepted: list[Mail] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(self, _server: Any, _session: Session, envelope: Envelope,  # noqa: N802 (aiosmtpd's)
                          address: str, _options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Session, envelope: Envelope) -> str:  # noqa: N802
        data = envelope.original_content
        assert isinstance(data, bytes)
        assert envelope.mail_from is not None
        mail = Mail(envelope.mail_from, list(envelope.rcpt_tos), data)
        with self.cond:
            reply = self.script.pop(0) if self.script else "250 OK"
            self.offered.append(mail)
            if reply.startswith("250"):
                self.accepted.append(mail)
            self.cond.notify_all()
        return reply


@dataclass
class SmtpSite:
    mailbox: Mailbox
    port: int

    def url(self, scheme: str = "smtp", credentials: str = "") -> str:
        return f"{scheme}://{credentials}127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(**options: Any) -> Iterator[SmtpSite]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpSite(mailbox, port)
    finally:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    cert: str
    key: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost; its own file is the CA bundle that trusts it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for the TLS tests")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return Certificate(str(cert), str(key))


def authenticator(_server: Any, _session: Session, _envelope: Envelope, _mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def item(*, sender: str = "+79161111111", sender_type: str = "international", text: str = "привет",
         kind: str = "sms", emails: str = "acme@example.com", message_id: str | None = None,
         **extra: Any) -> Item:
    """A delivery of a message routed as the router routes it (dedicated number of acme)."""
    message = inbound(text, sender=sender, sender_type=sender_type, kind=kind, **extra)
    if message_id is not None:
        message["id"] = message_id
    decision = Decision("routed", "acme", "dedicated", "dedicated", "The number is acme's.", VIRTUAL, "virtual", None)
    payload = routed_payload(message, decision)
    customer = Customer("acme", True, emails, None, None, None, None, None, None)
    return Item(1, message["id"], "acme", "call" if kind == "call" else "message", 0,
                json.dumps(payload, ensure_ascii=False), customer)


def channel(url: str, *, timeout_s: float = 5.0, cafile: str | None = None) -> MailChannel:
    return MailChannel(SmtpServer.parse(url), mail_from=FROM, timeout_s=timeout_s, cafile=cafile)


def deliver(ch: MailChannel, it: Item) -> Result:
    return ch.deliver(it, datetime.now(UTC))


@pytest.mark.parametrize(("sender", "sender_type", "text"), [
    ("Сбербанк", "alphanumeric", "Код подтверждения: 4821. Никому не сообщайте его.\nВаш Сбербанк"),
    ("微信支付", "alphanumeric", "您的验证码是 123456 😀👍🏽 — 请勿泄露。"),
    ("+79161111111", "international", "Ёлки-палки, " * 60 + "конец"),
])
def test_a_message_reads_exactly_in_any_script(sender: str, sender_type: str, text: str) -> None:
    with smtp_server() as srv:
        it = item(sender=sender, sender_type=sender_type, text=text)
        result = deliver(channel(srv.url()), it)
        (mail,) = srv.mailbox.accepted
    assert (result.state, result.status, result.error) == (DELIVERED, 250, None)
    assert mail.data.isascii(), "headers and body must be 7-bit: RFC 2047 words, base64 or quoted-printable"
    assert mail.sender == "sms@simhost.example"
    assert mail.recipients == ["acme@example.com"]
    m = mail.message
    assert m["Subject"] == f"SMS from {sender} to {VIRTUAL}"
    assert m["From"] == FROM
    assert m["To"] == "acme@example.com"
    assert m["Message-ID"] == f"<{it.message_id}@simhost>"
    assert m["X-Simhost-Event"] == "message"
    assert m["X-Simhost-Message-Id"] == it.message_id
    assert m["Date"].datetime.tzinfo is not None
    assert m.get_content_type() == "text/plain"
    assert m.get_content_charset() == "utf-8"
    body = mail.body
    assert f"\n{text}\n" in body
    assert f"From:       {sender}" in body
    assert f"To:         {VIRTUAL} (virtual number)" in body
    assert "Why yours:  the number is dedicated to you" in body
    received = json.loads(it.payload)["received_at"]
    assert f"UTC ({received})" in body


def test_a_call_says_it_is_a_call() -> None:
    with smtp_server() as srv:
        it = item(kind="call", text="[CALL]")
        assert deliver(channel(srv.url()), it).state == DELIVERED
        (mail,) = srv.mailbox.accepted
    m = mail.message
    assert m["Subject"] == f"Call from +79161111111 to {VIRTUAL}"
    assert m["X-Simhost-Event"] == "call"
    body = mail.body
    assert "A call from +79161111111 to your number" in body
    assert "[CALL]" not in body


def test_a_withheld_caller_and_a_payload_without_the_usual_fields() -> None:
    with smtp_server() as srv:
        withheld = item(kind="call", sender="withheld", sender_type="withheld", text="[CALL]")
        bare = replace(item(), payload=json.dumps({"id": "x"}))
        ch = channel(srv.url())
        assert deliver(ch, withheld).state == DELIVERED
        assert deliver(ch, bare).state == DELIVERED
        first, second = srv.mailbox.accepted
    assert first.message["Subject"] == f"Call from a withheld number to {VIRTUAL}"
    assert second.message["Subject"] == "SMS from an unknown sender to our number"


def test_a_repeat_has_the_same_message_id_and_odd_ids_make_valid_ones() -> None:
    odd = "bad-id/with spaces<and>@signs.ä"
    with smtp_server() as srv:
        ch = channel(srv.url())
        first, odd_item = item(), item(message_id=odd)
        for it in (first, first, odd_item):
            assert deliver(ch, it).state == DELIVERED
        a, b, c = (mail.message for mail in srv.mailbox.accepted)
    assert a["Message-ID"] == b["Message-ID"] == f"<{first.message_id}@simhost>"
    assert c["Message-ID"] == "<bad-id%2Fwith%20spaces%3Cand%3E%40signs%2E%C3%A4@simhost>"
    assert c["Message-ID"].defects == ()
    assert c["X-Simhost-Message-Id"] == odd
    long_a, long_b = message_id("x" * 500 + "a"), message_id("x" * 500 + "b")
    assert len(long_a) < 180
    assert long_a != long_b


def test_several_addresses_get_one_mail() -> None:
    with smtp_server() as srv:
        it = item(emails="a@example.com, b@example.org,a@example.com , c@пример.рф")
        assert deliver(channel(srv.url()), it).state == DELIVERED
        (mail,) = srv.mailbox.accepted
    assert mail.recipients == ["a@example.com", "b@example.org", "c@xn--e1afmkfd.xn--p1ai"]
    assert [a.addr_spec for a in mail.message["To"].addresses] == mail.recipients


def test_no_header_can_be_injected() -> None:
    evil = "Bank\r\nBcc: evil@example.com\nX-Injected: 1"
    text = "hi\r\nBcc: evil@example.com\r\n\r\nX-Injected: 1\n.\nend"
    with smtp_server() as srv:
        it = item(sender=evil, sender_type="alphanumeric", text=text,
                  emails="acme@example.com, x@example.com\r\nBcc: evil@example.com")
        assert deliver(channel(srv.url()), it).state == DELIVERED
        (mail,) = srv.mailbox.accepted
    m = mail.message
    assert mail.recipients == ["acme@example.com"]
    assert "Bcc" not in m
    assert "X-Injected" not in m
    assert m["Subject"] == f"SMS from Bank Bcc: evil@example.com X-Injected: 1 to {VIRTUAL}"
    assert "\nhi\nBcc: evil@example.com\n\nX-Injected: 1\n.\nend\n" in mail.body


def test_starttls_with_auth(certificate: Certificate, caplog: pytest.LogCaptureFixture) -> None:
    tls = {"tls_context": certificate.server_context(), "require_starttls": True,
           "authenticator": authenticator, "auth_required": True}
    with smtp_server(**tls) as srv, caplog.at_level(logging.WARNING, "simhost.delivery"):
        good = srv.url("smtp+starttls", "sms%40bank:pa%3Ass%2Fw%40rd@")
        ok = deliver(channel(good, cafile=certificate.cert), item())
        bad = channel(srv.url("smtp+starttls", "sms%40bank:wrong@"), cafile=certificate.cert)
        refused = [deliver(bad, item()) for _ in range(2)]
        untrusted = deliver(channel(good), item())  # the system's CAs do not know this certificate
        plain = deliver(channel(srv.url(credentials="sms%40bank:pa%3Ass%2Fw%40rd@")), item())
        assert len(srv.mailbox.accepted) == 1
    assert ok.state == DELIVERED
    assert [(r.state, r.status) for r in refused] == [(PENDING, 535)] * 2
    assert "SMTP 535 while AUTH" in (refused[0].error or "")
    warnings = [r.getMessage() for r in caplog.records if "535" in r.getMessage()]
    assert len(warnings) == 1, "a refused login is logged once, not on every try"
    assert "wrong" not in caplog.text
    assert untrusted.state == PENDING
    assert "certificate" in (untrusted.error or "")
    assert "SIMHOST_SMTP_CAFILE" in (untrusted.error or "")
    # the server offers AUTH only after STARTTLS: a plain session cannot log in
    assert (plain.state, plain.error) == (PENDING, "AUTH with 127.0.0.1 failed: SMTP AUTH extension not supported "
                                                   "by server.")


def test_implicit_tls(certificate: Certificate) -> None:
    with smtp_server(ssl_context=certificate.server_context()) as srv:
        result = deliver(channel(srv.url("smtps"), cafile=certificate.cert), item(text="по TLS"))
        (mail,) = srv.mailbox.accepted
    assert result.state == DELIVERED
    assert "\nпо TLS\n" in mail.body


def test_451_is_retried_with_the_same_message_id_then_delivered(tmp_path: Path) -> None:
    with smtp_server() as srv, site(tmp_path) as s:
        cli(s.db_url, "owner", "forward", "acme", "--email", "acme@example.com")
        srv.mailbox.script = ["451 4.3.0 Try again later"]
        service = DeliveryService(replace(s.settings, smtp_url=srv.url(), mail_from=FROM), s.sessions, **FAST)
        with running(service):
            mid = s.route("acme")
            assert s.wait_state(service, [mid], DELIVERED, WAIT_S)
        attempts = s.attempts(mid)
    assert [(a.result, a.status_code) for a in attempts] == [("retry", 451), (DELIVERED, 250)]
    assert attempts[0].error == "SMTP 451 while sending: 4.3.0 Try again later"
    ids = [mail.message["Message-ID"] for mail in srv.mailbox.offered]
    assert ids == [f"<{mid}@simhost>"] * 2
    assert len(srv.mailbox.accepted) == 1


def test_a_refused_recipient_fails_without_retry(tmp_path: Path) -> None:
    with smtp_server() as srv, site(tmp_path) as s:
        cli(s.db_url, "owner", "forward", "acme", "--email", "nobody@example.com")
        srv.mailbox.refuse["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: no such user"
        service = DeliveryService(replace(s.settings, smtp_url=srv.url()), s.sessions, **FAST)
        with running(service):
            mid = s.route("acme")
            assert s.wait_state(service, [mid], FAILED, WAIT_S)
        attempts = s.attempts(mid)
    assert [(a.result, a.status_code) for a in attempts] == [(FAILED, 550)]
    assert "550" in (s.delivery(mid).last_error or "")
    assert "nobody@example.com" in (s.delivery(mid).last_error or "")
    assert srv.mailbox.offered == []


def test_some_recipients_refused_is_delivered_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with smtp_server() as srv, caplog.at_level(logging.WARNING, "simhost.delivery"):
        srv.mailbox.refuse["gone@example.com"] = "550 5.1.1 no such user"
        result = deliver(channel(srv.url()), item(emails="gone@example.com, acme@example.com"))
        (mail,) = srv.mailbox.accepted
    assert result.state == DELIVERED
    assert mail.recipients == ["acme@example.com"]
    assert any("refused gone@example.com (550" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("reply", "state"), [("554 5.6.0 Message rejected", FAILED),
                                              ("452 4.3.1 Insufficient storage", PENDING)])
def test_a_refused_data(reply: str, state: str) -> None:
    with smtp_server() as srv:
        srv.mailbox.script = [reply]
        result = deliver(channel(srv.url()), item())
    assert (result.state, result.status) == (state, int(reply[:3]))
    assert reply[4:] in (result.error or "")


def test_a_server_down_or_silent_is_retried() -> None:
    down = deliver(channel(f"smtp://127.0.0.1:{free_port()}"), item())
    assert down.state == PENDING
    assert "ConnectionRefusedError" in (down.error or "")
    with socket.socket() as silent:  # accepts connections (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        result = deliver(channel(f"smtp://127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.3), item())
    assert result.state == PENDING
    assert "did not answer within 0.3 s" in (result.error or "")


def test_a_session_answered_slowly_is_cut_short_at_its_deadline() -> None:
    """Every reply comes within the timeout, but the whole session may not outlast the delivery's lease."""
    stop = threading.Event()

    def slow_server(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 slow\r\n")
            for _line in lines:
                if stop.wait(0.15):
                    return
                conn.sendall(b"250 ok\r\n")

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = threading.Thread(target=slow_server, args=(listener,), name="test-slow-smtp")
        server.start()
        try:
            result = deliver(channel(f"smtp://127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.2), item())
        finally:
            stop.set()
            server.join()
    assert result.state == PENDING
    assert result.error == "the SMTP session was cut short after 0.6 s"
    assert result.latency_ms < 2000


def test_no_address_that_can_be_mailed_fails() -> None:
    result = deliver(channel("smtp://127.0.0.1:9"), item(emails="юзер@example.com, not-an-address"))
    assert result.state == FAILED
    assert "no e-mail address that can be mailed" in (result.error or "")


@pytest.mark.parametrize(("url", "expected"), [
    ("http://mail.example.com", "the scheme must be smtp://, smtp+starttls:// or smtps://"),
    ("smtp://", "names no host"),
    ("smtp://mail.example.com:99999", "the port is not a number from 1 to 65535"),
    ("smtp://mail.example.com:0", "the port is not a number from 1 to 65535"),
    ("smtp://mail.example.com/mail", "no path"),
    ("smtp://:s3cret@mail.example.com", "a password but no user"),
    ("smtp://user:пароль-s3cret@mail.example.com", "must be ASCII"),
    ("smtp+starttls://user:s3cret/x@mail.example.com", "the port is not a number"),  # an unencoded /
    ("smtp://[::1", "is not a URL"),
])
def test_a_bad_smtp_url_is_refused_when_the_service_is_built(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DeliveryService(Settings(smtp_url=url), sessions=None, workers=1)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("SIMHOST_SMTP=")
    assert expected in message
    assert "s3cret" not in message
    assert "\n" not in message


def test_smtp_urls_parse() -> None:
    assert SmtpServer.parse("smtp://mail.example.com") == SmtpServer("mail.example.com", 25, "plain")
    assert SmtpServer.parse("smtp+starttls://u%40x:p%2F%40w@mail.example.com") == SmtpServer(
        "mail.example.com", 587, "starttls", "u@x", "p/@w")
    assert SmtpServer.parse("SMTPS://mail.example.com:2465") == SmtpServer("mail.example.com", 2465, "tls")
    assert str(SmtpServer.parse("smtps://u:p@mail.example.com")) == "smtps://u@mail.example.com:465"


def test_the_other_mail_settings_are_checked_by_simhost_run(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        bad_url = fails("--db", s.db_url, "run", "--only", "delivery",
                        env={"SIMHOST_SMTP": "smtp://user:s3cret@mail.example.com:x"})
        bad_from = fails("--db", s.db_url, "run", "--only", "delivery",
                         env={"SIMHOST_SMTP": "smtp://mail.example.com", "SIMHOST_MAIL_FROM": "simhost"})
        bad_ca = fails("--db", s.db_url, "run", "--only", "delivery",
                       env={"SIMHOST_SMTP": "smtps://mail.example.com", "SIMHOST_SMTP_CAFILE": "/nonexistent.pem"})
    assert "SIMHOST_SMTP='smtp://user:***@mail.example.com:x'" in bad_url
    assert "s3cret" not in bad_url
    assert "SIMHOST_MAIL_FROM='simhost' is not one ASCII e-mail address" in bad_from
    assert "SIMHOST_SMTP_CAFILE='/nonexistent.pem': no such file" in bad_ca

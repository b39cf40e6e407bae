"""E-mail delivery: the SMTP server setting, one mail per routed message (RFC 2047 headers, UTF-8 text), one
SMTP session with its outcome, and the channel."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import re
import smtplib
import socket
import ssl
import string
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

from simhost.config import ConfigError, Settings, shown_url
from simhost.delivery.channels import Item, Result
from simhost.delivery.models import EMAIL
from simhost.inputs import shown

log = logging.getLogger("simhost.delivery")

# (security, default port) by URL scheme
SCHEMES = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}
URL_EXAMPLE = "smtp+starttls://user:password@mail.example.com:587"
# 7bit: the body goes base64 or quoted-printable, as a server without 8BITMIME needs; utf8 off: headers are
# RFC 2047 encoded-words (no SMTPUTF8)
POLICY = SMTP.clone(cte_type="7bit", utf8=False)
DEADLINE_TIMEOUTS = 3  # a session's whole time, in timeouts: within the lease (3 timeouts and 5 s) of a try
ERROR_MAX = 300  # characters of a server's reply kept in an error
SENDER_SHOWN_MAX = 64  # characters of the sender in the subject
FIELD_MAX = 200  # characters of any one-line field of the payload in the body
MESSAGE_ID_MAX = 160  # characters of the Message-ID's left part; a longer id is cut and hashed
MESSAGE_ID_SAFE = frozenset(string.ascii_letters + string.digits + "-_")
ADDRESS_RE = re.compile(r'[^\s@<>()\[\],;:\\"]+@[^\s@<>()\[\],;:\\"]+')
LINE_BREAKING = frozenset(("Cc", "Zl", "Zp"))  # what str.splitlines() may break a header at
RULES = {
    "dedicated": "the number is dedicated to you",
    "prefix": "the text starts with your login",
    "reply": "you were the last to send an SMS to this sender (a reply)",
}
SENDER_TYPES = {"alphanumeric": "alphanumeric sender name", "short": "short code"}


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send mail, parsed from `SIMHOST_SMTP`: `smtp://` (plain, port 25), `smtp+starttls://`
    (STARTTLS, 587) or `smtps://` (TLS from the start, 465), with an optional percent-encoded user and password."""

    host: str
    port: int
    security: str  # plain | starttls | tls
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        what = f"SIMHOST_SMTP={shown_url(url)}"
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            raise ConfigError(f"{what} is not a URL (e.g. {URL_EXAMPLE})") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ConfigError(f"{what}: the scheme must be smtp://, smtp+starttls:// or smtps:// "
                              f"(e.g. {URL_EXAMPLE})")
        if not parts.hostname:
            raise ConfigError(f"{what} names no host (e.g. {URL_EXAMPLE})")
        security, default_port = SCHEMES[scheme]
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ConfigError(f"{what}: the port is not a number from 1 to 65535")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f"{what}: give only the user, password, host and port (no path, ? or #)")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        if password is not None and username is None:
            raise ConfigError(f"{what} gives a password but no user")
        if not (username or "").isascii() or not (password or "").isascii():
            raise ConfigError(f"{what}: the user and password must be ASCII (SMTP AUTH sends no other)")
        return cls(parts.hostname, port or default_port, security, username, password)

    def __str__(self) -> str:
        scheme = next(s for s, (security, _) in SCHEMES.items() if security == self.security)
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def envelope_sender(mail_from: str) -> str:
    """The address in `SIMHOST_MAIL_FROM` (`sms@example.com` or `SIM bank <sms@example.com>`), or a ConfigError."""
    message = EmailMessage(policy=POLICY)
    try:
        message["From"] = mail_from
        header = message["From"]
    except (ValueError, IndexError):
        header = None
    addresses = header.addresses if isinstance(header, AddressHeader) else ()
    if (len(addresses) != 1 or not addresses[0].username or not addresses[0].domain
            or not addresses[0].addr_spec.isascii() or header is None or header.defects):
        raise ConfigError(f"SIMHOST_MAIL_FROM={shown(mail_from)} is not one ASCII e-mail address (e.g. "
                          "sms@example.com or 'SIM bank <sms@example.com>')")
    return addresses[0].addr_spec


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """A client TLS context that checks the server's certificate and name, against `cafile` when given (instead
    of the system's CAs)."""
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else one_line(str(exc))
        raise ConfigError(f"SIMHOST_SMTP_CAFILE={shown(cafile or '')}: {reason}") from None


def one_line(value: object, limit: int = ERROR_MAX) -> str:
    """`value` (text, or bytes as a server sends them) on one line, white space collapsed, cut to `limit`."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = " ".join("".join(" " if unicodedata.category(c) in LINE_BREAKING else c for c in _valid(text)).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _valid(text: str) -> str:
    """`text` with lone surrogates (JSON may carry them) replaced, so it encodes as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def addresses(emails: str | None) -> tuple[list[str], list[str]]:
    """The customer's comma-separated addresses split into those that can be mailed (a non-ASCII domain in its
    IDNA form) and those that cannot (malformed, or a non-ASCII local part, which needs SMTPUTF8)."""
    usable: list[str] = []
    unusable: list[str] = []
    for raw in (emails or "").split(","):
        address = raw.strip()
        if not address:
            continue
        local, _, domain = address.rpartition("@")
        with contextlib.suppress(UnicodeError):
            address = f"{local}@{domain.encode('idna').decode('ascii')}"
        if ADDRESS_RE.fullmatch(address) and address.isascii() and address.isprintable():
            if address not in usable:
                usable.append(address)
        else:
            unusable.append(one_line(raw, 80))
    return usable, unusable


def message_id(mid: str) -> str:
    """A Message-ID for routed message `mid`, the same on every try: characters a Message-ID may not hold
    percent-encoded (so two ids never share one), a very long id cut and completed by its hash."""
    left = "".join(c if c in MESSAGE_ID_SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
                   for c in mid)
    if len(left) > MESSAGE_ID_MAX:
        digest = hashlib.sha256(mid.encode("utf-8", "surrogatepass")).hexdigest()
        left = left[:MESSAGE_ID_MAX - len(digest) - 1] + "-" + digest
    return f"<{left}@simhost>"


def _readable(iso: str) -> str:
    """An ISO 8601 time as `1 May 2024, 12:34:56 UTC`, or "" when it is not one."""
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        return ""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return f"{at.day} {at:%B %Y, %H:%M:%S} UTC"


def _field(payload: Mapping[str, object], key: str) -> str:
    value = payload.get(key)
    return "" if value is None or isinstance(value, (dict, list)) else one_line(value, FIELD_MAX)


def compose(item: Item, mail_from: str, to: list[str], now: datetime) -> EmailMessage:
    """The mail for one routed message (its payload as the owner's topic carries it) to all of `to`."""
    try:
        decoded = json.loads(item.payload)
    except ValueError:
        decoded = None
    payload: Mapping[str, object] = decoded if isinstance(decoded, dict) else {}
    call = item.kind == "call"
    sender, sender_type = _field(payload, "sender"), _field(payload, "sender_type")
    number = _field(payload, "number") or "our number"
    withheld = sender_type == "withheld" or sender == "withheld"
    who = "a withheld number" if withheld else sender or "an unknown sender"
    subject = f"{'Call' if call else 'SMS'} from {one_line(who, SENDER_SHOWN_MAX)} to {number}"
    lines = [subject, ""]
    if call:
        lines += [f"A call from {who} to your number {number}. It was not answered: simhost hangs up at once, "
                  "so the caller pays nothing.", ""]
    else:
        text = payload.get("text")
        lines += [_valid(text) if isinstance(text, str) else "", ""]
    kind = _field(payload, "number_kind")
    facts = [("From", who + (f" ({SENDER_TYPES[sender_type]})" if sender_type in SENDER_TYPES else "")),
             ("To", number + (f" ({kind} number)" if kind else ""))]
    received = _field(payload, "received_at")
    if received:
        readable = _readable(received)
        facts.append(("Received", f"{readable} ({received})" if readable else received))
    sent = _field(payload, "sent_at")
    if sent and not call:
        facts.append(("Sent", f"{sent} (the network's time stamp)"))
    parts = _field(payload, "parts")
    if parts and parts != "1" and not call:
        facts.append(("Parts", parts))
    if payload.get("incomplete") is True:
        facts.append(("Incomplete", "some parts never arrived: the text has gaps"))
    rule = _field(payload, "rule")
    if rule:
        facts.append(("Why yours", RULES.get(rule, rule)))
    reason = _field(payload, "reason")
    if reason:
        facts.append(("Reason", reason))
    facts.append(("Message id", one_line(item.message_id, FIELD_MAX)))
    lines += [f"{name + ':':<12}{value}" for name, value in facts]

    message = EmailMessage(policy=POLICY)
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(item.message_id)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to it
    message["X-Simhost-Event"] = item.kind
    message["X-Simhost-Message-Id"] = one_line(item.message_id, FIELD_MAX)
    message.set_content("\n".join(lines) + "\n", charset="utf-8")
    return message


@functools.cache
def _ehlo_name() -> str:
    # smtplib would look this up (a DNS query, possibly slow) on every connection
    return socket.getfqdn()


class _Smtp(smtplib.SMTP):
    """smtplib's client with one deadline for the whole session, checked before each command and reply:
    `timeout` bounds each read or write, and a server answering every command just in time must not outlast the
    delivery's lease (another service would take the row and send the mail twice)."""

    deadline = math.inf

    def open(self, host: str, port: int) -> None:
        # smtplib takes the name TLS checks the certificate against only from __init__, which would connect
        # before the deadline is set
        self._host = host
        self.connect(host, port)

    def send(self, s: bytes | str) -> None:  # type: ignore[override]
        self._bound()
        super().send(s)

    def getreply(self) -> tuple[int, bytes]:
        self._bound()
        return super().getreply()

    def _bound(self) -> None:
        if self.sock is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the session's deadline passed")
        self.sock.settimeout(min(self.timeout, left))


class _SmtpTls(_Smtp, smtplib.SMTP_SSL):
    """The same over TLS from the start (smtps)."""


class _RefusedError(Exception):
    """A reply that ends the try: `permanent` for a 5xx about this mail."""

    def __init__(self, code: int | None, error: str, *, permanent: bool) -> None:
        super().__init__(error)
        self.code = code
        self.permanent = permanent


class MailChannel:
    """Mails each routed message to the customer's addresses (one mail to all of them) through one SMTP server.
    Accepted is delivered; a 5xx about the mail or all its recipients fails it; anything else is retried."""

    name = EMAIL

    def __init__(self, server: SmtpServer, *, mail_from: str, timeout_s: float, cafile: str | None = None) -> None:
        self.server = server
        self.mail_from = mail_from
        self.sender = envelope_sender(mail_from)
        self.timeout_s = timeout_s
        self.context = tls_context(cafile) if cafile or server.security != "plain" else None
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout_s: float) -> MailChannel:
        """The channel for `settings.smtp_url` (which must be set); a ConfigError for any setting it cannot use."""
        assert settings.smtp_url is not None
        return cls(SmtpServer.parse(settings.smtp_url), mail_from=settings.mail_from, timeout_s=timeout_s,
                   cafile=settings.smtp_cafile)

    def deliver(self, item: Item, now: datetime) -> Result:
        to, unusable = addresses(item.customer.email)
        if unusable:
            log.warning("delivery %d: customer %s's e-mail addresses %s cannot be mailed (malformed, or a non-ASCII "
                        "name before the @, which needs SMTPUTF8)", item.delivery_id, item.owner, ", ".join(unusable))
        if not to:
            return Result.failed(f"customer {item.owner} has no e-mail address that can be mailed"
                                 + (f" ({', '.join(unusable)})" if unusable else ""))
        data = compose(item, self.mail_from, to, now).as_bytes()
        started = time.monotonic()
        try:
            refused = self._send(to, data)
        except _RefusedError as exc:
            if exc.permanent:
                return Result.failed(str(exc), exc.code, _ms(started))
            return Result.retry(str(exc), exc.code, _ms(started))
        except ssl.SSLCertVerificationError as exc:
            return Result.retry(self._warn_once(f"the certificate of {self.server.host} is not trusted: "
                                                f"{one_line(exc.verify_message or exc)} (SIMHOST_SMTP_CAFILE names "
                                                "a CA bundle to trust)"), None, _ms(started))
        except OSError as exc:
            # smtplib reports a read that timed out as SMTPServerDisconnected
            if not isinstance(exc, TimeoutError) and not isinstance(exc.__context__, TimeoutError):
                return Result.retry(f"{type(exc).__name__}: {one_line(exc)}", None, _ms(started))
            whole = DEADLINE_TIMEOUTS * self.timeout_s
            if time.monotonic() - started >= whole:  # the reads' timeouts end at the deadline
                return Result.retry(f"the SMTP session was cut short after {whole:g} s", None, _ms(started))
            return Result.retry(f"{self.server.host}:{self.server.port} did not answer within "
                                f"{self.timeout_s:g} s", None, _ms(started))
        if refused:
            log.warning("delivery %d to %s: mailed, but the server refused %s", item.delivery_id, item.owner,
                        "; ".join(f"{a} ({code} {one_line(text, 100)})" for a, (code, text) in refused.items()))
        return Result.delivered(250, _ms(started))

    def _send(self, to: list[str], data: bytes) -> dict[str, tuple[int, bytes]]:
        """One SMTP session that mails `data` to `to`: the recipients refused while others were accepted, or
        _RefusedError, or the network's or TLS's OSError."""
        smtp = (_SmtpTls(local_hostname=_ehlo_name(), timeout=self.timeout_s, context=self.context)
                if self.server.security == "tls" else _Smtp(local_hostname=_ehlo_name(), timeout=self.timeout_s))
        smtp.deadline = time.monotonic() + DEADLINE_TIMEOUTS * self.timeout_s
        step = "connecting"
        try:
            smtp.open(self.server.host, self.server.port)
            if self.server.security == "starttls":
                step = "STARTTLS"
                smtp.starttls(context=self.context)
            if self.server.username is not None:
                step = "AUTH"
                smtp.login(self.server.username, self.server.password or "")
            step = "sending"
            return smtp.sendmail(self.sender, to, data)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = "; ".join(f"{a}: {code} {one_line(text, 100)}" for a, (code, text) in exc.recipients.items())
            raise _RefusedError(min(codes), one_line(f"SMTP refused every recipient: {error}"),
                                permanent=min(codes) >= 500) from None
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code} while {step}: {one_line(exc.smtp_error)}"
            if step in ("STARTTLS", "AUTH") or exc.smtp_code == 530:
                raise _RefusedError(exc.smtp_code, self._warn_once(error), permanent=False) from None
            permanent = step == "sending" and exc.smtp_code >= 500
            raise _RefusedError(exc.smtp_code, error, permanent=permanent) from None
        except smtplib.SMTPException as exc:
            # no STARTTLS or no AUTH mechanism we share: the settings' fault, like a refused login
            if step not in ("STARTTLS", "AUTH") or isinstance(exc, smtplib.SMTPServerDisconnected):
                raise
            raise _RefusedError(None, self._warn_once(f"{step} with {self.server.host} failed: {one_line(exc)}"),
                                permanent=False) from None
        finally:
            _close(smtp)

    def _warn_once(self, error: str) -> str:
        """`error`, logged as a warning the first time: a mistake in the settings that the operator must fix."""
        with self._lock:
            first = error not in self._warned
            self._warned.add(error)
        if first:
            log.warning("e-mail through %s: %s (retrying)", self.server, error)
        return error


def _close(smtp: smtplib.SMTP) -> None:
    """End the session politely if it is still up; what the server says to QUIT no longer matters."""
    try:
        if smtp.sock is not None:
            smtp.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        smtp.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

"""Settings shared by every simhost command: database URL, MQTT URL and password, topic prefix, default region."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit

from simhost.inputs import shown

DEFAULT_DB_URL = "sqlite:///simhost.db"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_TOPIC_PREFIX = "simhost"
DEFAULT_REGION = "RU"
DEFAULT_ROUTER_ACK_TIMEOUT_S = 30.0
DEFAULT_SEND_GAP_S = 3.0
DEFAULT_SEND_MAX_PARTS = 10
DEFAULT_DELIVERY_RETRY_S = 10.0
DEFAULT_DELIVERY_TIMEOUT_S = 10.0
DEFAULT_MAIL_FROM = "simhost@localhost"
DEFAULT_SMPP_LISTEN = "0.0.0.0:2775"
DEFAULT_HTTP_LISTEN = "127.0.0.1:8080"
DEFAULT_API_RATE_PER_S = 20.0
DEFAULT_API_BURST = 40
MQTT_DEFAULT_PORT = 1883
MQTTS_DEFAULT_PORT = 8883
PASSWORD_FILE_MAX = 4096  # bytes; MQTT allows 65535, but a password file holds one password
URL_SHOWN_MAX = 120
# the password runs to the URL's last @: a password given raw may hold / and @ (over-masking is harmless)
PASSWORD_IN_URL_RE = re.compile(r"^([^:/]*://[^:/@]*:).*@")


class ConfigError(ValueError):
    """A setting has a value simhost cannot use; the message says which and why."""


def shown_url(url: str) -> str:
    """`url` quoted for a message, cut short, its password (if any) replaced by ***."""
    return shown(PASSWORD_IN_URL_RE.sub(r"\1***@", url), URL_SHOWN_MAX)


@dataclass(frozen=True)
class MqttTarget:
    """Where and how to reach the MQTT broker, parsed from an `mqtt://user:pass@host:port` URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> MqttTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ConfigError(
                f"MQTT URL {shown_url(url)}: scheme must be mqtt:// or mqtts:// (e.g. mqtt://127.0.0.1:1883)"
            )
        if not parts.hostname:
            raise ConfigError(f"MQTT URL {shown_url(url)} names no host")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (MQTTS_DEFAULT_PORT if tls else MQTT_DEFAULT_PORT)
        except ValueError:
            raise ConfigError(f"MQTT URL {shown_url(url)}: the port is not a number from 0 to 65535") from None
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def _seconds(name: str, default: float) -> float:
    """A non-negative number of seconds from environment variable `name`."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw[:40]!r} is not a number of seconds") from None
    if not 0 <= value <= 86_400:
        raise ConfigError(f"{name}={raw[:40]!r}: give 0 to 86400 seconds")
    return value


def _flag(name: str) -> bool:
    """Whether environment variable `name` is set to 1 (0 or unset: no)."""
    raw = os.environ.get(name, "").strip()
    if raw not in ("", "0", "1"):
        raise ConfigError(f"{name}={raw[:40]!r}: give 1 (yes) or 0 (no)")
    return raw == "1"


def _count(name: str, default: int, lowest: int, highest: int) -> int:
    """A whole number from environment variable `name`, from `lowest` to `highest`."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not raw.strip().isdigit() or not lowest <= int(raw) <= highest:
        raise ConfigError(f"{name}={raw[:40]!r}: give a whole number from {lowest} to {highest}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `Settings.from_env()` and override per command-line option."""

    db_url: str = DEFAULT_DB_URL
    mqtt_url: str = DEFAULT_MQTT_URL
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    region: str = DEFAULT_REGION
    # How long the gateway waits for a router to confirm a published message before it publishes it again
    # (doubling up to ten minutes); 0: the broker's PUBACK is enough (no simhost router consumes the messages).
    router_ack_timeout_s: float = DEFAULT_ROUTER_ACK_TIMEOUT_S
    # the least time between two sends on one SIM, and the most parts one send may take
    send_gap_s: float = DEFAULT_SEND_GAP_S
    send_max_parts: int = DEFAULT_SEND_MAX_PARTS
    send_daily_limit: int = 0  # parts a SIM may send a day; 0: no limit
    # a failed delivery is tried again after this long, doubling each time; one try waits this long for an answer
    delivery_retry_s: float = DEFAULT_DELIVERY_RETRY_S
    delivery_timeout_s: float = DEFAULT_DELIVERY_TIMEOUT_S
    # webhooks to loopback, private and link-local addresses (refused by default: a customer's URL must not
    # reach into simhost's own network)
    delivery_allow_private: bool = False
    # outgoing mail for the e-mail channel: smtp://user:pass@host:port, smtp+starttls://..., smtps://...
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = DEFAULT_MAIL_FROM
    # a CA bundle trusted for the SMTP server's certificate instead of the system's (a private CA, a test server)
    smtp_cafile: str | None = None
    # where the SMPP server, the web interface and REST API, and the metrics endpoint listen (host:port)
    smpp_listen: str = DEFAULT_SMPP_LISTEN
    http_listen: str = DEFAULT_HTTP_LISTEN
    metrics_listen: str | None = None  # none: no metrics endpoint
    # requests a second each API key (or web session, or client address before it signs in) may make, and at once
    api_rate_per_s: float = DEFAULT_API_RATE_PER_S
    api_burst: int = DEFAULT_API_BURST
    api_docs: bool = False  # the interactive docs page at /api/v1/docs (it loads its scripts from a CDN)
    # from SIMHOST_MQTT_PASSWORD or --mqtt-password-file; it replaces a password in mqtt_url
    mqtt_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            db_url=os.environ.get("SIMHOST_DB", DEFAULT_DB_URL),
            mqtt_url=os.environ.get("SIMHOST_MQTT", DEFAULT_MQTT_URL),
            topic_prefix=os.environ.get("SIMHOST_TOPIC_PREFIX", DEFAULT_TOPIC_PREFIX),
            region=os.environ.get("SIMHOST_REGION", DEFAULT_REGION),
            router_ack_timeout_s=_seconds("SIMHOST_ROUTER_ACK_TIMEOUT_S", DEFAULT_ROUTER_ACK_TIMEOUT_S),
            send_gap_s=_seconds("SIMHOST_SEND_GAP_S", DEFAULT_SEND_GAP_S),
            send_max_parts=_count("SIMHOST_SEND_MAX_PARTS", DEFAULT_SEND_MAX_PARTS, 1, 255),
            send_daily_limit=_count("SIMHOST_SEND_DAILY_LIMIT", 0, 0, 1_000_000),
            delivery_retry_s=_seconds("SIMHOST_DELIVERY_RETRY_S", DEFAULT_DELIVERY_RETRY_S),
            delivery_timeout_s=_seconds("SIMHOST_DELIVERY_TIMEOUT_S", DEFAULT_DELIVERY_TIMEOUT_S),
            delivery_allow_private=_flag("SIMHOST_DELIVERY_ALLOW_PRIVATE"),
            smtp_url=os.environ.get("SIMHOST_SMTP") or None,
            mail_from=os.environ.get("SIMHOST_MAIL_FROM") or DEFAULT_MAIL_FROM,
            smtp_cafile=os.environ.get("SIMHOST_SMTP_CAFILE") or None,
            smpp_listen=os.environ.get("SIMHOST_SMPP_LISTEN") or DEFAULT_SMPP_LISTEN,
            http_listen=os.environ.get("SIMHOST_HTTP_LISTEN") or DEFAULT_HTTP_LISTEN,
            metrics_listen=os.environ.get("SIMHOST_METRICS_LISTEN") or None,
            api_rate_per_s=float(_count("SIMHOST_API_RATE", int(DEFAULT_API_RATE_PER_S), 1, 100_000)),
            api_burst=_count("SIMHOST_API_BURST", DEFAULT_API_BURST, 1, 100_000),
            api_docs=_flag("SIMHOST_API_DOCS"),
            mqtt_password=os.environ.get("SIMHOST_MQTT_PASSWORD") or None,
        )

    @property
    def mqtt(self) -> MqttTarget:
        target = MqttTarget.parse(self.mqtt_url)
        if self.mqtt_password is None:
            return target
        if target.username is None:
            raise ConfigError(
                "an MQTT password is given (--mqtt-password-file or SIMHOST_MQTT_PASSWORD) but the MQTT URL "
                f"{shown_url(self.mqtt_url)} names no user: give one, mqtt://USER@HOST:PORT"
            )
        return replace(target, password=self.mqtt_password)


def read_password_file(path: str) -> tuple[str, str | None]:
    """The password in the file at `path` (trailing newlines stripped), and a warning if every user may read it."""
    what = f"MQTT password file {path}"
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read(PASSWORD_FILE_MAX + 1)
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc)).lower()
        raise ConfigError(f"{what}: {reason}") from None
    if len(data) > PASSWORD_FILE_MAX:
        raise ConfigError(f"{what} is longer than {PASSWORD_FILE_MAX} bytes: it should hold only the password")
    try:
        password = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} is not UTF-8 text") from None
    if not password:
        raise ConfigError(f"{what} is empty")
    warning = f"warning: {what} is readable by every user: chmod 600 it" if mode & stat.S_IROTH else None
    return password, warning

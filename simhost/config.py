"""Settings shared by every simhost command: database URL, MQTT URL, topic prefix, default region."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_DB_URL = "sqlite:///simhost.db"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_TOPIC_PREFIX = "simhost"
DEFAULT_REGION = "RU"
DEFAULT_ROUTER_ACK_TIMEOUT_S = 30.0
MQTT_DEFAULT_PORT = 1883
MQTTS_DEFAULT_PORT = 8883


class ConfigError(ValueError):
    """A setting has a value simhost cannot use; the message says which and why."""


@dataclass(frozen=True)
class MqttTarget:
    """Where and how to reach the MQTT broker, parsed from an `mqtt://user:pass@host:port` URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> MqttTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ConfigError(
                f"MQTT URL {url!r}: scheme must be mqtt:// or mqtts:// (e.g. mqtt://127.0.0.1:1883)"
            )
        if not parts.hostname:
            raise ConfigError(f"MQTT URL {url!r} names no host")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (MQTTS_DEFAULT_PORT if tls else MQTT_DEFAULT_PORT)
        except ValueError as exc:
            raise ConfigError(f"MQTT URL {url!r}: {exc}") from None
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

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            db_url=os.environ.get("SIMHOST_DB", DEFAULT_DB_URL),
            mqtt_url=os.environ.get("SIMHOST_MQTT", DEFAULT_MQTT_URL),
            topic_prefix=os.environ.get("SIMHOST_TOPIC_PREFIX", DEFAULT_TOPIC_PREFIX),
            region=os.environ.get("SIMHOST_REGION", DEFAULT_REGION),
            router_ack_timeout_s=_seconds("SIMHOST_ROUTER_ACK_TIMEOUT_S", DEFAULT_ROUTER_ACK_TIMEOUT_S),
        )

    @property
    def mqtt(self) -> MqttTarget:
        return MqttTarget.parse(self.mqtt_url)

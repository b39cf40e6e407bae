"""Settings shared by every simhost command: database URL, MQTT URL, topic prefix, default region."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from simhost.inputs import shown

DEFAULT_DB_URL = "sqlite:///simhost.db"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_TOPIC_PREFIX = "simhost"
DEFAULT_REGION = "RU"
MQTT_DEFAULT_PORT = 1883
MQTTS_DEFAULT_PORT = 8883
URL_SHOWN_MAX = 120
PASSWORD_IN_URL_RE = re.compile(r"^([^:/]*://[^:/@]*:)[^@/]*@")


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
    password: str | None = None
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


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `Settings.from_env()` and override per command-line option."""

    db_url: str = DEFAULT_DB_URL
    mqtt_url: str = DEFAULT_MQTT_URL
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    region: str = DEFAULT_REGION

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            db_url=os.environ.get("SIMHOST_DB", DEFAULT_DB_URL),
            mqtt_url=os.environ.get("SIMHOST_MQTT", DEFAULT_MQTT_URL),
            topic_prefix=os.environ.get("SIMHOST_TOPIC_PREFIX", DEFAULT_TOPIC_PREFIX),
            region=os.environ.get("SIMHOST_REGION", DEFAULT_REGION),
        )

    @property
    def mqtt(self) -> MqttTarget:
        return MqttTarget.parse(self.mqtt_url)

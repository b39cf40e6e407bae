"""Settings shared by every simhost command, and where each comes from: a command-line flag, the environment
(SIMHOST_*), the TOML configuration file or the default, in that order. `SETTINGS` is the one table of them."""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final, Literal, cast
from urllib.parse import unquote, urlsplit

from simhost.inputs import is_utf8, shown
from simhost_drivers.physical import parse_power_cycle_rules
from simhost_drivers.slots import SwitchError, check_spec

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
DEFAULT_ROUTER_GROUP = "routers"
DEFAULT_DYNSEC_ADMIN = "admin"
DEFAULT_LOG_FORMAT = "text"
LOG_FORMAT_NAMES = ("text", "json")
DEFAULT_API_RATE_PER_S = 20
DEFAULT_API_BURST = 40
DEFAULT_POWER_CYCLE = "off"
DEFAULT_ROTATION_EVERY_H = 24.0
DEFAULT_ROTATION_REGISTER_MIN = 3.0
DEFAULT_ROTATION_SWITCHER = "none"
ROTATION_MINUTES_MAX = 1440
ROTATION_HOURS_MAX = 720
DEFAULT_BANK = "default"  # in a table of switchers by bank: the one for the banks it does not name
DEFAULT_CONFIG_PATH = "/etc/simhost/simhost.toml"  # read only when it exists and no other file is named
CONFIG_ENV = "SIMHOST_CONFIG"
CONFIG_FILE_MAX = 1 << 20  # bytes
AUTO: Final = "auto"
MASK = "***"
SECONDS_MAX = 86_400
MQTT_DEFAULT_PORT = 1883
MQTTS_DEFAULT_PORT = 8883
PASSWORD_FILE_MAX = 4096  # bytes; MQTT allows 65535, but a password file holds one password
URL_SHOWN_MAX = 120
# the password runs to the URL's last @: a password given raw may hold / and @ (over-masking is harmless)
PASSWORD_IN_URL_RE = re.compile(r"^([^:/]*://[^:/@]*:).*@")
PLAIN_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
USSD_TABLES = "ussd"  # the [[ussd]] array of tables: balance checks by network
USSD_CODE_RE = re.compile(r"^[0-9*#+]{1,32}$")  # nothing that could end the quoted string of AT+CUSD
DEFAULT_USSD_AMOUNT = r"(-?\d+[.,]\d+)"
DEFAULT_USSD_TIMEOUT_S = 30.0
USSD_TIMEOUT_MAX_S = 600.0
USSD_INTERVAL_MAX_S = 31 * SECONDS_MAX
ANY_NETWORK = "*"

Value = str | int | float | bool | None  # a setting's value
Processes = int | Literal["auto"]


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


@dataclass(frozen=True)
class UssdCheck:
    """A `[[ussd]]` table: the balance of SIMs on `network` (the operator's name as the modem reports it, an MCC-MNC
    their IMSI starts with, or "*" for any) is asked with `code` every `interval_s`; the first group of regular
    expression `amount` (else its whole match) in the answer is the amount."""

    network: str
    code: str
    interval_s: float
    amount: str = DEFAULT_USSD_AMOUNT
    timeout_s: float = DEFAULT_USSD_TIMEOUT_S

    def matches(self, operator: str | None, imsi: str | None) -> bool:
        """Whether a SIM registered with `operator` and holding `imsi` is on this check's network."""
        if self.network == ANY_NETWORK:
            return True
        if self.network.isdigit():
            return imsi is not None and imsi.startswith(self.network)
        return operator is not None and operator.casefold() == self.network.casefold()


def check_ussd_code(code: str, what: str = "USSD code") -> str:
    """`code` if it is a USSD code simhost sends (digits, *, #, +; 1 to 32); ConfigError otherwise."""
    if not USSD_CODE_RE.match(code):
        raise ConfigError(f"{what} {shown(code)}: 1 to 32 of the characters 0-9, '*', '#' and '+'")
    return code


@dataclass(frozen=True)
class Kind:
    """How a setting is written: as text in the environment or a flag, as a TOML value in the file."""

    expected: str  # the TOML type it takes, for messages
    hint: str  # what a valid value is, for messages
    from_text: Callable[[str], object]  # text as the TOML value it stands for; ValueError if it stands for none
    check: Callable[[object], Value]  # a TOML value as the setting's: TypeError for a wrong type, ValueError else


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError
    if not value:
        raise ValueError
    return value


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    if not 0 <= value <= SECONDS_MAX:
        raise ValueError
    return float(value)


def _whole(text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        raise ValueError
    return int(text)


def _count(lowest: int, highest: int) -> Kind:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        if not lowest <= value <= highest:
            raise ValueError
        return value

    return Kind("an integer", f"give a whole number from {lowest} to {highest}", _whole, check)


def _yes_no(text: str) -> bool:
    answer = {"0": False, "1": True}.get(text.strip())
    if answer is None:
        raise ValueError
    return answer


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def parse_processes(text: str) -> Processes:
    """A number of gateway processes, or "auto"; ValueError if `text` is neither."""
    return AUTO if text.strip() == AUTO else _processes(_whole(text))


def _processes(value: object) -> Processes:
    if value == AUTO:
        return AUTO
    if isinstance(value, str):
        raise ValueError
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    if value < 1:
        raise ValueError
    return value


def _power_cycle(value: object) -> str:
    text = _text(value)
    parse_power_cycle_rules(text)
    return text
def _amount(highest: float, unit: str, *, zero: bool) -> Kind:
    """A number of `unit`s (minutes, hours) from 0 (if `zero`, else more than 0) to `highest`."""
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError
        if value < 0 or (value == 0 and not zero) or value > highest:
            raise ValueError
        return float(value)

    lowest = "0" if zero else "more than 0"
    return Kind(f"a number of {unit}", f"give {lowest} to {highest:g} {unit}", float, check)


def _switcher_text(text: str) -> object:
    """A switcher given as text: a spec for every bank, or a JSON object of specs by bank."""
    return json.loads(text) if text.lstrip().startswith("{") else text


def _switchers(value: object) -> str:
    """A spec (`none`, `hwsim`, `hwsim:PATH`, `command:TEMPLATE`), or a table of them by bank number
    (`default` for the other banks), as the text `parse_switchers` reads."""
    if isinstance(value, str):
        table: dict[str, object] = {DEFAULT_BANK: value}
    elif isinstance(value, dict):
        table = value
    else:
        raise TypeError
    for bank, spec in table.items():
        if not (bank == DEFAULT_BANK or (bank.isascii() and bank.isdigit())) or not isinstance(spec, str):
            raise ValueError
        try:
            check_spec(spec)
        except SwitchError:
            raise ValueError from None
    return value if isinstance(value, str) else json.dumps(table, sort_keys=True)


def parse_switchers(text: str) -> tuple[str, dict[int, str]]:
    """The switcher spec for the banks not named, and the specs by bank number, from a `rotation_switcher`."""
    if not text.lstrip().startswith("{"):
        return text, {}
    table = json.loads(text)
    return (table.pop(DEFAULT_BANK, DEFAULT_ROTATION_SWITCHER), {int(bank): spec for bank, spec in table.items()})


TEXT = Kind("a string", "must not be empty (leave the key out for the default)", str, _text)
POWER_CYCLE = Kind("a string", "give off, sysfs, command:TEMPLATE, or PORTS=MODE rules separated by ;", str,
                   _power_cycle)
SECONDS = Kind("a number of seconds", f"give 0 to {SECONDS_MAX} seconds", float, _seconds)
FLAG = Kind("true or false", "give 1 (yes) or 0 (no)", _yes_no, _bool)


def _log_format(value: object) -> str:
    text = _text(value)
    if text not in LOG_FORMAT_NAMES:
        raise ValueError
    return text


LOG_FORMAT = Kind("a string", f"give one of {', '.join(LOG_FORMAT_NAMES)}", str, _log_format)
SWITCHERS = Kind("a string or a table", "give none, hwsim, hwsim:PATH or command:TEMPLATE (a command line with "
                 "{port} {slot} {url}), or a table of them by bank number with default for the others",
                 _switcher_text, _switchers)
PROCESSES = Kind('an integer or "auto"', "give a number of processes (1 or more) or 'auto'", parse_processes,
                 _processes)


def _hide_all(_value: str) -> str:
    return MASK


def _hide_url_password(url: str) -> str:
    return PASSWORD_IN_URL_RE.sub(rf"\1{MASK}@", url)


@dataclass(frozen=True)
class Setting:
    """One setting: its Settings field, environment variable, key in the config file and kind; the root option
    that sets it, if any; how to hide what is secret in it, if it can hold a secret."""

    field: str
    env: str
    key: str
    kind: Kind
    flag: str | None = None
    hide: Callable[[str], str] | None = None

    def masked(self, value: Value) -> Value:
        """`value` with what is secret in it replaced by ***."""
        return self.hide(value) if self.hide is not None and isinstance(value, str) else value

    def named(self, name: str, value: object, sep: str = " ") -> str:
        """`name` and `value` for a message: a secret is never quoted, a password in a URL is hidden."""
        if self.hide is _hide_all:
            return name
        if isinstance(value, str):
            return f"{name}{sep}{shown(self.hide(value) if self.hide else value)}"
        return f"{name}{sep}{value}"


SETTINGS: tuple[Setting, ...] = (
    Setting("db_url", "SIMHOST_DB", "database.url", TEXT, "--db"),
    Setting("mqtt_url", "SIMHOST_MQTT", "mqtt.url", TEXT, "--mqtt", _hide_url_password),
    Setting("mqtt_password_file", "SIMHOST_MQTT_PASSWORD_FILE", "mqtt.password_file", TEXT, "--mqtt-password-file"),
    Setting("mqtt_password", "SIMHOST_MQTT_PASSWORD", "mqtt.password", TEXT, None, _hide_all),
    Setting("topic_prefix", "SIMHOST_TOPIC_PREFIX", "mqtt.topic_prefix", TEXT, "--topic-prefix"),
    Setting("mqtt_dynsec", "SIMHOST_MQTT_DYNSEC", "mqtt.dynsec", FLAG),
    Setting("dynsec_admin", "SIMHOST_DYNSEC_ADMIN", "mqtt.dynsec_admin", TEXT),
    Setting("dynsec_admin_password_file", "SIMHOST_DYNSEC_ADMIN_PASSWORD_FILE", "mqtt.dynsec_admin_password_file",
            TEXT),
    Setting("log_format", "SIMHOST_LOG_FORMAT", "log.format", LOG_FORMAT, "--log-format"),
    Setting("region", "SIMHOST_REGION", "region", TEXT, "--region"),
    Setting("gateway_processes", "SIMHOST_GATEWAY_PROCESSES", "gateway.processes", PROCESSES),
    Setting("router_group", "SIMHOST_ROUTER_GROUP", "router.group", TEXT, None, _hide_all),
    Setting("router_ack_timeout_s", "SIMHOST_ROUTER_ACK_TIMEOUT_S", "router.ack_timeout_s", SECONDS),
    Setting("send_gap_s", "SIMHOST_SEND_GAP_S", "sending.gap_s", SECONDS),
    Setting("send_max_parts", "SIMHOST_SEND_MAX_PARTS", "sending.max_parts", _count(1, 255)),
    Setting("send_daily_limit", "SIMHOST_SEND_DAILY_LIMIT", "sending.daily_limit", _count(0, 1_000_000)),
    Setting("delivery_retry_s", "SIMHOST_DELIVERY_RETRY_S", "delivery.retry_s", SECONDS),
    Setting("delivery_timeout_s", "SIMHOST_DELIVERY_TIMEOUT_S", "delivery.timeout_s", SECONDS),
    Setting("delivery_allow_private", "SIMHOST_DELIVERY_ALLOW_PRIVATE", "delivery.allow_private", FLAG),
    Setting("smtp_url", "SIMHOST_SMTP", "mail.smtp_url", TEXT, None, _hide_url_password),
    Setting("mail_from", "SIMHOST_MAIL_FROM", "mail.from", TEXT),
    Setting("smtp_cafile", "SIMHOST_SMTP_CAFILE", "mail.cafile", TEXT),
    Setting("smpp_listen", "SIMHOST_SMPP_LISTEN", "smpp.listen", TEXT),
    Setting("http_listen", "SIMHOST_HTTP_LISTEN", "web.listen", TEXT),
    Setting("api_rate_per_s", "SIMHOST_API_RATE", "web.api_rate", _count(1, 100_000)),
    Setting("api_burst", "SIMHOST_API_BURST", "web.api_burst", _count(1, 100_000)),
    Setting("api_docs", "SIMHOST_API_DOCS", "web.api_docs", FLAG),
    Setting("metrics_listen", "SIMHOST_METRICS_LISTEN", "metrics.listen", TEXT),
    Setting("usb_reset", "SIMHOST_USB_RESET", "recovery.usb_reset", FLAG),
    Setting("power_cycle", "SIMHOST_POWER_CYCLE", "recovery.power_cycle", POWER_CYCLE),
    Setting("rotation_online_min", "SIMHOST_ROTATION_ONLINE_MIN", "rotation.online_min",
            _amount(ROTATION_MINUTES_MAX, "minutes", zero=True)),
    Setting("rotation_every_h", "SIMHOST_ROTATION_EVERY_H", "rotation.every_h",
            _amount(ROTATION_HOURS_MAX, "hours", zero=False)),
    Setting("rotation_register_min", "SIMHOST_ROTATION_REGISTER_MIN", "rotation.register_min",
            _amount(ROTATION_MINUTES_MAX, "minutes", zero=False)),
    Setting("rotation_switcher", "SIMHOST_ROTATION_SWITCHER", "rotation.switcher", SWITCHERS),
)
BY_KEY = {s.key: s for s in SETTINGS}
SECTIONS = {section: [k.partition(".")[2] for k in BY_KEY if k.startswith(f"{section}.")]
            for section in dict.fromkeys(k.partition(".")[0] for k in BY_KEY if "." in k)}
# what a key may be mistaken for: itself, its variable without SIMHOST_ (`db`), its field (`send_gap_s`)
LOOKALIKES = {**{s.env.removeprefix("SIMHOST_").lower(): s.key for s in SETTINGS},
              **{s.field: s.key for s in SETTINGS}, **{s.key: s.key for s in SETTINGS}}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `Settings.load()` (flags, environment, config file) or `Settings.from_env()`."""

    db_url: str = DEFAULT_DB_URL
    mqtt_url: str = DEFAULT_MQTT_URL
    # read at start; its password replaces SIMHOST_MQTT_PASSWORD (or mqtt.password) given at the same level or below
    mqtt_password_file: str | None = None
    # it replaces a password in mqtt_url
    mqtt_password: str | None = field(default=None, repr=False)
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    # the broker's dynamic-security plugin: `simhost owner add|password|enable|disable` update it at once when on;
    # its admin, and the file holding the admin's password (`simhost mqtt sync` reads them too)
    mqtt_dynsec: bool = False
    dynsec_admin: str = DEFAULT_DYNSEC_ADMIN
    dynsec_admin_password_file: str | None = None
    log_format: str = DEFAULT_LOG_FORMAT  # text, or json: one object per line
    region: str = DEFAULT_REGION
    gateway_processes: Processes = AUTO  # auto: one per 32 ports, no more than the cores
    # routers in one shared-subscription group split the inbound messages; behind `simhost mqtt acl`, a secret
    router_group: str = field(default=DEFAULT_ROUTER_GROUP, repr=False)
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
    smtp_cafile: str | None = None  # a PEM bundle of the CAs trusted for the SMTP server instead of the system's
    # where the SMPP server, the web interface and REST API, and the metrics endpoint listen (host:port)
    smpp_listen: str = DEFAULT_SMPP_LISTEN
    http_listen: str = DEFAULT_HTTP_LISTEN
    metrics_listen: str | None = None  # none: no metrics endpoint
    # requests a second each API key (or web session, or client address before it signs in) may make, and at once
    api_rate_per_s: float = DEFAULT_API_RATE_PER_S
    api_burst: int = DEFAULT_API_BURST
    api_docs: bool = False  # the interactive docs page at /api/v1/docs (it loads its scripts from a CDN)
    # balance checks by USSD, from the config file's [[ussd]] tables only (none: no checks)
    ussd: tuple[UssdCheck, ...] = ()
    # the recovery ladder's physical steps for a modem that stopped answering: a USB reset (USBDEVFS_RESET), and a
    # power cycle of its hub port (see simhost_drivers.physical.parse_power_cycle_rules), off unless configured
    usb_reset: bool = True
    power_cycle: str = DEFAULT_POWER_CYCLE
    # SIM rotation on ports with several slots: each slot online at least rotation_online_min minutes every
    # rotation_every_h hours (0 minutes: off); a SIM not registered rotation_register_min minutes after its
    # switch is skipped for the round; how slots are switched (by bank: a JSON object, see parse_switchers)
    rotation_online_min: float = 0.0
    rotation_every_h: float = DEFAULT_ROTATION_EVERY_H
    rotation_register_min: float = DEFAULT_ROTATION_REGISTER_MIN
    rotation_switcher: str = DEFAULT_ROTATION_SWITCHER

    @classmethod
    def load(cls, config_path: str | None = None, *, flags: Mapping[str, str | None] | None = None,
             environ: Mapping[str, str] | None = None, files: bool = True) -> LoadedSettings:
        """The settings from `flags` (by Settings field), over `environ` (default os.environ), over the config
        file (`config_path`, else SIMHOST_CONFIG, else DEFAULT_CONFIG_PATH if it exists), over the defaults.
        `files=False` reads no file: neither a config file nor the MQTT password file."""
        return _load(config_path, flags or {}, os.environ if environ is None else environ, files)

    @classmethod
    def from_env(cls) -> Settings:
        """The settings from the environment alone (no config file, no password file)."""
        return cls.load(files=False).settings

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


@dataclass(frozen=True)
class LoadedSettings:
    """Settings as loaded: where each came from ("default", "file PATH", "env VAR", "flag --OPTION", "password file
    PATH", by Settings field), the config file read and what named it, and warnings for the user."""

    settings: Settings
    sources: Mapping[str, str]
    config_file: str | None = None
    config_named_by: str | None = None  # "flag --config", "env SIMHOST_CONFIG" or "default path"
    warnings: tuple[str, ...] = ()


def _load(config_path: str | None, flags: Mapping[str, str | None], environ: Mapping[str, str],
          files: bool) -> LoadedSettings:
    layers: list[dict[str, tuple[Value, str]]] = []  # field -> (value, source), from the least precedence up
    warnings: list[str] = []
    config = _config_file(config_path, environ) if files else None
    checks: tuple[UssdCheck, ...] = ()
    if config is not None:
        from_file, checks, warning = _read_config(config[0])
        layers.append(from_file)
        warnings += [warning] if warning else []
    layers.append({s.field: (_from_text(s, s.env, environ[s.env], "="), f"env {s.env}")
                   for s in SETTINGS if environ.get(s.env, "").strip()})
    layers.append({s.field: (_from_text(s, s.flag or s.field, raw, " "), f"flag {s.flag or s.field}")
                   for s in SETTINGS if (raw := flags.get(s.field))})
    values: dict[str, Value] = {}
    sources = {s.field: "default" for s in SETTINGS}
    rank = {s.field: 0 for s in SETTINGS}
    for level, layer in enumerate(layers, start=1):
        for name, (value, source) in layer.items():
            values[name], sources[name], rank[name] = value, source, level
    password_file = values.get("mqtt_password_file")
    if files and isinstance(password_file, str) and rank["mqtt_password_file"] >= rank["mqtt_password"]:
        values["mqtt_password"], warning = read_password_file(password_file)
        sources["mqtt_password"] = f"password file {password_file}"
        warnings += [warning] if warning else []
    path, named_by = config if config is not None else (None, None)
    # each kind gives its field's type (a test holds the table to the fields)
    settings = replace(Settings(ussd=checks), **cast("dict[str, Any]", values))
    return LoadedSettings(settings, sources, path, named_by, tuple(warnings))


def _from_text(setting: Setting, name: str, raw: str, sep: str) -> Value:
    """The value of `setting` given as text `raw` by environment variable or flag `name`."""
    if not is_utf8(raw):
        raise ConfigError(f"{setting.named(name, raw, sep)} is not UTF-8 text")
    try:
        return setting.kind.check(setting.kind.from_text(raw))
    except (TypeError, ValueError):
        raise ConfigError(f"{setting.named(name, raw, sep)}: {setting.kind.hint}") from None


def _config_file(config_path: str | None, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The config file to read and what named it; none when none is named and the default path does not exist."""
    if config_path:
        return config_path, "flag --config"
    named = environ.get(CONFIG_ENV, "")
    if named.strip():
        if not is_utf8(named):
            raise ConfigError(f"{CONFIG_ENV}={shown(named)} is not UTF-8 text")
        return named, f"env {CONFIG_ENV}"
    return (DEFAULT_CONFIG_PATH, "default path") if os.path.lexists(DEFAULT_CONFIG_PATH) else None


def _read_config(path: str) -> tuple[dict[str, tuple[Value, str]], tuple[UssdCheck, ...], str | None]:
    """The settings in the config file at `path`, its balance checks, and a warning if it holds a secret every user
    may read."""
    what = f"config file {path}"
    data, mode = _read_file(path, what, CONFIG_FILE_MAX)
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{what} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} is not valid TOML: {exc}") from None
    found: dict[str, tuple[Value, str]] = {}
    secrets = []
    checks = _ussd_checks(document.pop(USSD_TABLES, []), what)
    for key, raw in _flat(document, what).items():
        setting = BY_KEY.get(key)
        if setting is None:
            raise ConfigError(f"{what}: unknown key {_key_shown(key)} ({_known_like(key)})")
        try:
            value = setting.kind.check(raw)
        except TypeError:
            raise ConfigError(f"{what}: {key} must be {setting.kind.expected}, not {_toml_type(raw)}") from None
        except ValueError:
            raise ConfigError(f"{what}: {setting.named(key, raw, ' = ')}: {setting.kind.hint}") from None
        found[setting.field] = (value, f"file {path}")
        if setting.masked(value) != value:
            secrets.append(key)
    warning = None
    if secrets and mode & stat.S_IROTH:
        warning = (f"warning: {what} holds secrets ({', '.join(secrets)}) and is readable by every user: "
                   "chmod o-r it")
    return found, checks, warning


def _ussd_checks(tables: object, what: str) -> tuple[UssdCheck, ...]:
    """The `[[ussd]]` tables as checks: each needs network, code and interval_s; amount and timeout_s may be left
    out."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{what}: {USSD_TABLES} must be an array of tables ([[{USSD_TABLES}]]), "
                          f"not {_toml_type(tables)}")
    keys = [f.name for f in fields(UssdCheck)]
    checks = []
    for n, table in enumerate(tables, start=1):
        where = f"{what}: [[{USSD_TABLES}]] number {n}"
        unknown = [k for k in table if k not in keys]
        if unknown:
            raise ConfigError(f"{where}: unknown key {_key_shown(unknown[0])} (it takes {', '.join(keys)})")
        missing = [k for k in keys[:3] if k not in table]
        if missing:
            raise ConfigError(f"{where} needs {', '.join(missing)}")
        texts = {k: table.get(k, DEFAULT_USSD_AMOUNT) for k in ("network", "code", "amount")}
        bad = next((k for k, v in texts.items() if not isinstance(v, str) or not v), None)
        if bad is not None:
            raise ConfigError(f"{where}: {bad} must be a non-empty string")
        try:
            re.compile(texts["amount"])
        except re.error as exc:
            raise ConfigError(f"{where}: amount is not a regular expression: {exc}") from None
        checks.append(UssdCheck(
            texts["network"], check_ussd_code(texts["code"], f"{where}: code"),
            _ussd_seconds(table["interval_s"], USSD_INTERVAL_MAX_S, f"{where}: interval_s"), texts["amount"],
            _ussd_seconds(table.get("timeout_s", DEFAULT_USSD_TIMEOUT_S), USSD_TIMEOUT_MAX_S, f"{where}: timeout_s")))
    return tuple(checks)


def _ussd_seconds(value: object, highest: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= highest:
        raise ConfigError(f"{what} must be a number of seconds from 1 to {int(highest)}")
    return float(value)


def _flat(document: Mapping[str, object], what: str) -> dict[str, object]:
    """The TOML document's keys as `section.key` (top-level keys as they are)."""
    flat: dict[str, object] = {}
    for name, value in document.items():
        if isinstance(value, dict) and name not in BY_KEY:  # a section, or a misspelt one
            flat.update({f"{name}.{key}": inner for key, inner in value.items()})
        elif name not in SECTIONS:
            flat[name] = value
        else:
            raise ConfigError(f"{what}: {name} must be a table ([{name}]), not {_toml_type(value)}")
    return flat


def _key_shown(key: str) -> str:
    return key if PLAIN_KEY_RE.match(key) else shown(key)


def _known_like(key: str) -> str:
    """A hint for unknown `key`: the closest known key, else the keys of its section, else the sections."""
    close = difflib.get_close_matches(key, LOOKALIKES, n=1)
    if close:
        return f"did you mean {LOOKALIKES[close[0]]}?"
    section = key.split(".", maxsplit=1)[0]
    if section in SECTIONS:
        return f"[{section}] takes {', '.join(SECTIONS[section])}"
    tops = [k for k in BY_KEY if "." not in k]
    return f"known: {', '.join(tops)} and the tables {', '.join(f'[{s}]' for s in SECTIONS)}"


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", dict: "a table",
             list: "an array"}
    return names.get(type(value), "a date or time")


def _read_file(path: str, what: str, limit: int, too_long: str = "") -> tuple[bytes, int]:
    """The bytes of the file at `path` and its mode; a ConfigError naming `what` if it cannot be read or is longer
    than `limit` bytes (`too_long` says why that is wrong)."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read(limit + 1)
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc)).lower()
        raise ConfigError(f"{what}: {reason}") from None
    if len(data) > limit:
        raise ConfigError(f"{what} is longer than {limit} bytes{too_long}")
    return data, mode


def read_password_file(path: str) -> tuple[str, str | None]:
    """The password in the file at `path` (trailing newlines stripped), and a warning if every user may read it."""
    what = f"MQTT password file {path}"
    data, mode = _read_file(path, what, PASSWORD_FILE_MAX, ": it should hold only the password")
    try:
        password = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} is not UTF-8 text") from None
    if not password:
        raise ConfigError(f"{what} is empty")
    warning = f"warning: {what} is readable by every user: chmod 600 it" if mode & stat.S_IROTH else None
    return password, warning

"""Mosquitto password and ACL files for simhost's customers and its service accounts."""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from simhost.inputs import shown
from simhost.security.mqttauth import hash_password, new_password
from simhost.topics import Topics

GATEWAY = "gateway"
ROUTER = "router"
OPERATOR = "operator"
REPORTER = "reporter"  # another system that reports sends made for any customer
SENDER = "sender"  # another system that asks simhost to send SMS for any customer
SERVICE_ROLES = (GATEWAY, ROUTER, OPERATOR, REPORTER, SENDER)
DEFAULT_SERVICES: Mapping[str, str] = {role: role for role in SERVICE_ROLES}

PASSWD_FILE = "passwd"
ACL_FILE = "acl"
SERVICES_FILE = "services.json"
SNIPPET_FILE = "mosquitto.conf.snippet"
SECRET_MODE = 0o600

# A username becomes a topic level and a `user` line of the ACL file and a `name:hash` line of the password file.
USERNAME_RE = re.compile(r"^[^\s/+#:$\x00-\x1f\x7f][^\s/+#:\x00-\x1f\x7f]{0,127}$")
PREFIX_LEVEL_RE = re.compile(r"^[^\s/+#\x00-\x1f\x7f]+$")


class AclError(ValueError):
    """The inputs cannot be turned into safe Mosquitto files; the message names the culprit."""


class Right(NamedTuple):
    """One thing an account may do: `read` (subscribe to and receive) or `write` (publish) `topic`, a topic filter.

    `shared`: read only through the routers' shared subscription `$share/<group>/<topic>`. Mosquitto's ACL file
    checks the messages delivered, not subscriptions, so it ignores the flag; the dynamic-security plugin checks
    the subscription itself, `$share/<group>/` included (see simhost.security.dynsec).
    """

    access: str
    topic: str
    shared: bool = False


class CustomerAccount(NamedTuple):
    """One registry customer as the broker sees it."""

    login: str
    password_hash: str | None
    enabled: bool


def check_username(name: str, what: str = "login") -> str:
    if not USERNAME_RE.match(name):
        raise AclError(
            f"{what} {shown(name)} cannot be an MQTT username: it must be 1-128 characters without white space, "
            "'/', '+', '#', ':' or a leading '$'"
        )
    return name


def check_prefix(prefix: str) -> str:
    if not prefix or prefix.startswith("$") or not all(PREFIX_LEVEL_RE.match(p) for p in prefix.split("/")):
        raise AclError(
            f"topic prefix {shown(prefix)} cannot be used in an ACL: it needs non-empty levels without "
            "white space, '+' or '#', and no leading '$'"
        )
    return prefix


def service_rules(prefix: str) -> dict[str, list[Right]]:
    """The rights of each service role, covering every topic it publishes or subscribes to: the one description
    both the ACL file and the dynamic-security roles are made from."""
    t = Topics(check_prefix(prefix))
    gateways_status = f"{t.base}/gateways/+/status"
    ports_status = t.port_status("+")
    ussd_answers = t.ussd_answer("+", "+")
    return {
        # inbound messages, retained port statuses, the gateway's own status and will; sends' outcomes and status
        # reports nobody sent (the relay publishes them from the database)
        GATEWAY: [
            Right("write", t.inbound_all),
            Right("write", ports_status),
            Right("write", gateways_status),
            Right("write", f"{t.base}/owners/+/sends"),
            Right("write", t.unrouted),
            Right("read", t.acks_all),  # routers confirm what they routed; only routers may write there
            Right("read", t.ussd_requests_all),  # only operators may ask for USSD: a code can spend a SIM's money
            Right("write", ussd_answers),
        ],
        # its shared subscriptions (`$share/<group>/...`); the ACL file grants them with the plain filter, the
        # dynamic-security role only with the routers' group
        ROUTER: [
            Right("read", f"{t.base}/inbound/#", shared=True),
            Right("read", t.sent, shared=True),
            Right("read", t.owner_sent_all, shared=True),
            Right("read", t.send, shared=True),
            Right("read", t.owner_send_all, shared=True),
            Right("read", gateways_status),
            Right("write", f"{t.base}/owners/#"),
            Right("write", t.unrouted),
            Right("write", ports_status),  # the status keeper marks a dead gateway's ports offline
            Right("write", t.router_status("+")),  # its own retained online/offline (and will)
            Right("write", t.acks_all),
        ],
        OPERATOR: [
            Right("read", f"{prefix}/#"),
            Right("write", t.ussd_requests_all),
        ],
        REPORTER: [
            Right("write", t.sent),
        ],
        SENDER: [
            Right("write", t.send),
        ],
    }


def customer_rules(prefix: str, login: str) -> list[Right]:
    """A customer reads its own messages and sends' outcomes, asks for sends and reports its own sends, each on
    its own topic: on the shared `send` and `sent` topics it could name any customer."""
    t = Topics(check_prefix(prefix))
    return [
        Right("read", f"{t.base}/owners/{check_username(login)}/#"),
        Right("write", t.owner_send(login)),
        Right("write", t.owner_sent(login)),
    ]


def render_acl(prefix: str, customers: Iterable[str], services: Mapping[str, str] = DEFAULT_SERVICES) -> str:
    """A Mosquitto `acl_file`: `services` maps each role (gateway, router, operator) to its username.

    Every username gets only the topics its role needs; anything not listed is denied.
    """
    check_prefix(prefix)
    unknown = sorted(set(services) - set(SERVICE_ROLES))
    if unknown:
        raise AclError(f"unknown service role(s) {', '.join(unknown)}; known: {', '.join(SERVICE_ROLES)}")
    service_users = {check_username(user, f"{role} username"): role for role, user in services.items()}
    if len(service_users) != len(services):
        raise AclError("two service roles share one username")
    logins = sorted(set(customers))
    for login in logins:
        check_username(login)
        if login in service_users:
            raise AclError(f"customer login {shown(login)} is also the {service_users[login]} service account")
    rules = service_rules(prefix)
    lines = [
        "# Mosquitto ACL written by `simhost mqtt acl`; regenerate it rather than editing it.",
        f"# Topic prefix: {prefix}. Anonymous clients get nothing.",
        "",
    ]
    for role in SERVICE_ROLES:
        if role not in services:
            continue
        lines.append(f"# service: {role}")
        lines.append(f"user {services[role]}")
        lines.extend(f"topic {r.access} {r.topic}" for r in rules[role])
        lines.append("")
    for login in logins:
        lines.append(f"user {login}")
        lines.extend(f"topic {r.access} {r.topic}" for r in customer_rules(prefix, login))
        lines.append("")
    return "\n".join(lines)


def render_passwd(entries: Mapping[str, str]) -> str:
    """A Mosquitto `password_file`: one `username:$7$...` line per entry (values are already hashed)."""
    lines = []
    for user in sorted(entries):
        hashed = entries[user]
        check_username(user, "username")
        if not hashed.startswith("$7$") or any(c.isspace() for c in hashed):
            raise AclError(f"password hash of {shown(user)} is not a Mosquitto $7$ hash")
        lines.append(f"{user}:{hashed}")
    return "".join(f"{line}\n" for line in lines)


def _write(path: Path, text: str, mode: int = SECRET_MODE, owner: str | None = None) -> None:
    """Replace `path` with `text`, mode `mode` (and owner `owner`) from the first byte on.

    The temporary file is always a new one (O_EXCL, O_NOFOLLOW): one left by a crashed run, or a symlink
    or hard link planted in its place, would otherwise receive the secrets.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise AclError(f"{tmp} appeared while {path.name} was being written; run the command again") from None
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away (never added any)
        if owner is not None:
            try:
                uid = pwd.getpwnam(owner).pw_uid
            except KeyError:
                raise AclError(f"no system user {shown(owner)} to own {path.name}") from None
            try:
                os.fchown(fd, uid, -1)
            except PermissionError:
                raise AclError(f"cannot give {path.name} to user {shown(owner)} (needs root)") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(text)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


@dataclass(frozen=True)
class ServiceCredentials:
    """Service account passwords and the routers' shared-subscription group, kept in `services.json` (0600).

    Mosquitto's acl_file never checks subscriptions, only the messages delivered: a customer who joins
    the routers' `$share` group is handed its share of inbound messages, which the ACL then withholds,
    so those messages reach no router. The group name is therefore a secret generated here.
    """

    passwords: Mapping[str, str]
    router_group: str

    @classmethod
    def load_or_create(cls, directory: Path, usernames: Iterable[str] = SERVICE_ROLES, *,
                       save: bool = True) -> ServiceCredentials:
        """What `directory/services.json` holds, with any missing account or group name generated (and written
        there unless `save` is false)."""
        path = Path(directory) / SERVICES_FILE
        passwords: dict[str, str] = {}
        group = ""
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise AclError(f"cannot read {path}: {exc}") from None
            stored = data.get("passwords") if isinstance(data, dict) else None
            group = data.get("router_group", "") if isinstance(data, dict) else ""
            if not isinstance(stored, dict) or not isinstance(group, str) or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in stored.items()
            ):
                raise AclError(f"{path} is not what `simhost mqtt acl` writes; move it away to start afresh")
            passwords = dict(stored)
        wanted = [check_username(u, "service username") for u in usernames]
        missing = [u for u in wanted if u not in passwords]
        for user in missing:
            passwords[user] = new_password()
        changed = bool(missing) or not group
        group = group or f"routers-{secrets.token_hex(8)}"
        if save and (changed or (path.stat().st_mode & 0o777) != SECRET_MODE):
            text = json.dumps({"passwords": passwords, "router_group": group}, indent=2, sort_keys=True)
            _write(path, text + "\n", SECRET_MODE)
        return cls({u: passwords[u] for u in wanted}, group)


@dataclass(frozen=True)
class WrittenFiles:
    """What `write_acl_files` wrote, and whom it let in."""

    passwd: Path
    acl: Path
    services: Path
    snippet: Path
    credentials: ServiceCredentials
    customers: tuple[str, ...]
    left_out: tuple[str, ...]


def render_snippet(out_dir: Path) -> str:
    d = out_dir.resolve()
    return (
        "# Add to mosquitto.conf (or drop into /etc/mosquitto/conf.d/); written by `simhost mqtt acl`.\n"
        "allow_anonymous false\n"
        f"password_file {d / PASSWD_FILE}\n"
        f"acl_file {d / ACL_FILE}\n"
    )


def write_acl_files(
    out_dir: Path | str,
    prefix: str,
    customers: Iterable[tuple[str, str | None, bool]],
    services: Mapping[str, str] = DEFAULT_SERVICES,
    *,
    broker_user: str | None = None,
) -> WrittenFiles:
    """Write passwd, acl and services.json (each mode 0600) and mosquitto.conf.snippet into `out_dir`.

    `customers` are (login, $7$ password hash or None, enabled); a customer without a hash or not
    enabled is left out of both files and cannot connect. Service passwords are reused from an
    existing services.json. `broker_user` (e.g. `mosquitto`, needs root) is made the owner of passwd
    and acl: Mosquitto started as root reads them after it has dropped to that user.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    accounts = [CustomerAccount(*c) for c in customers]
    admitted = {a.login: a.password_hash for a in accounts if a.enabled and a.password_hash}
    left_out = tuple(sorted({a.login for a in accounts} - set(admitted)))
    acl_text = render_acl(prefix, admitted, services)
    credentials = ServiceCredentials.load_or_create(out, services.values())
    entries = {user: hash_password(pw) for user, pw in credentials.passwords.items()}
    entries.update(admitted)
    passwd_text = render_passwd(entries)
    files = WrittenFiles(
        passwd=out / PASSWD_FILE, acl=out / ACL_FILE, services=out / SERVICES_FILE,
        snippet=out / SNIPPET_FILE, credentials=credentials, customers=tuple(sorted(admitted)),
        left_out=left_out,
    )
    _write(files.passwd, passwd_text, owner=broker_user)
    _write(files.acl, acl_text, owner=broker_user)
    _write(files.snippet, render_snippet(out), 0o644)
    return files

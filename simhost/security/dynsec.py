"""Mosquitto's dynamic-security plugin: the roles and clients the registry calls for, read from and compared with
what the plugin holds, and the control commands that bring it in step (pure; the broker link is dynsec_api)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from simhost.inputs import shown
from simhost.security.acl import (
    DEFAULT_SERVICES,
    AclError,
    CustomerAccount,
    Right,
    check_username,
    customer_rules,
    service_rules,
)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ROLE_PREFIX = "simhost-"
MANAGED_PREFIX = "simhost "  # how the textdescription of a client this module manages starts
NO_PASSWORD = "none"
SEND, RECEIVE, SUBSCRIBE = "publishClientSend", "publishClientReceive", "subscribePattern"
# Anything a role does not grant is refused; `subscribe: false` is what makes the plugin check subscriptions.
DEFAULT_ACCESS: Mapping[str, bool] = {SEND: False, RECEIVE: False, "subscribe": False, "unsubscribe": True}
GROUP_RE = re.compile(r"^[^\s/+#\x00-\x1f\x7f]+$")

Json = dict[str, object]  # one command, response or part of one, as the control API's JSON


class DynsecError(Exception):
    """The plugin cannot be read or brought in step; the message is one line naming the cause."""


class Acl(NamedTuple):
    """One ACL of a role, as the plugin keeps it."""

    acltype: str
    topic: str
    allow: bool = True
    priority: int = 0

    def as_json(self) -> Json:
        return {"acltype": self.acltype, "topic": self.topic, "allow": self.allow, "priority": self.priority}


def role_acls(rights: Iterable[Right], router_group: str | None) -> frozenset[Acl]:
    """The plugin's ACLs for `rights`: a write is publishClientSend; a read is publishClientReceive plus a
    subscribePattern. The plugin checks a shared subscription as its whole string, `$share/<group>/<filter>` (2.0's
    handle_subscribe.c passes it whole, sub_acl_check matches level by level), so a shared read is granted for the
    routers' group only and nobody else's role matches a `$share/...` subscription at all."""
    acls: set[Acl] = set()
    for r in rights:
        if r.access == "write":
            acls.add(Acl(SEND, r.topic))
        else:
            if r.shared and router_group is None:
                raise AclError("the routers' shared-subscription group is needed")
            acls.add(Acl(RECEIVE, r.topic))
            acls.add(Acl(SUBSCRIBE, f"$share/{router_group}/{r.topic}" if r.shared else r.topic))
    return frozenset(acls)


def customer_role(login: str) -> str:
    return f"{ROLE_PREFIX}customer-{login}"


def service_role(role: str) -> str:
    return f"{ROLE_PREFIX}{role}"


def customer_mark(password_hash: str | None) -> str:
    """Which registry password a client was given, without being a way to check guesses: a fingerprint of the
    `$7$` hash's random salt and iteration count (each new password has a new salt)."""
    if not password_hash:
        return NO_PASSWORD
    parts = password_hash.split("$")  # "", "7", iterations, salt, digest
    if len(parts) != 5 or parts[1] != "7":
        raise AclError("a customer's MQTT password hash is not a Mosquitto $7$ hash")
    return hashlib.sha256(f"{parts[2]}${parts[3]}".encode()).hexdigest()[:16]


def service_mark(password: str) -> str:
    """Which services.json password a service client was given (the password is 144 random bits)."""
    return hashlib.sha256(f"simhost-service:{password}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ClientSpec:
    """A client the registry calls for. `mark` says which password it should have (NO_PASSWORD: none);
    `password` is that password in plain text when known here (services always; a customer only at the moment
    `simhost owner add` or `owner password` makes it, since the registry keeps hashes)."""

    username: str
    kind: str  # "customer" or "service <role>"
    role: str
    enabled: bool
    mark: str
    password: str | None = field(default=None, repr=False)

    def description(self, mark: str) -> str:
        return f"{MANAGED_PREFIX}{self.kind}; password {mark}"


@dataclass(frozen=True)
class Desired:
    roles: Mapping[str, frozenset[Acl]]
    clients: Mapping[str, ClientSpec]


def desired_state(
    prefix: str,
    customers: Iterable[CustomerAccount],
    *,
    router_group: str | None = None,
    service_passwords: Mapping[str, str] | None = None,
    services: Mapping[str, str] = DEFAULT_SERVICES,
    new_passwords: Mapping[str, str] | None = None,
) -> Desired:
    """Every customer gets a client and a role of its own (a disabled one stays, disabled; one without an MQTT
    password has none on the broker either); each service role in `services` (role -> username) whose password
    `service_passwords` (username -> password) holds gets a client (their roles need `router_group`).
    `new_passwords`: login -> the plain password whose hash the registry now holds."""
    if router_group is not None and not GROUP_RE.match(router_group):
        raise AclError(f"router group {shown(router_group)} cannot be a topic level")
    new_passwords = new_passwords or {}
    roles: dict[str, frozenset[Acl]] = {}
    clients: dict[str, ClientSpec] = {}
    if service_passwords is not None:
        rules = service_rules(prefix)
        for role, user in services.items():
            if user not in service_passwords:
                continue
            check_username(user, f"{role} username")
            roles[service_role(role)] = role_acls(rules[role], router_group)
            password = service_passwords[user]
            clients[user] = ClientSpec(user, f"service {role}", service_role(role), True, service_mark(password),
                                       password)
    for c in customers:
        check_username(c.login)
        if c.login in clients:
            raise AclError(f"customer login {shown(c.login)} is also a service account")
        roles[customer_role(c.login)] = role_acls(customer_rules(prefix, c.login), router_group)
        clients[c.login] = ClientSpec(c.login, "customer", customer_role(c.login), c.enabled,
                                      customer_mark(c.password_hash), new_passwords.get(c.login))
    return Desired(roles, clients)


@dataclass(frozen=True)
class CurrentClient:
    username: str
    description: str
    disabled: bool
    roles: tuple[str, ...]

    @property
    def managed(self) -> bool:
        return self.description.startswith(MANAGED_PREFIX)

    @property
    def mark(self) -> str | None:
        _, sep, mark = self.description.rpartition("; password ")
        return mark if sep else None


@dataclass(frozen=True)
class Current:
    default_access: Mapping[str, bool]
    roles: Mapping[str, frozenset[Acl]]
    clients: Mapping[str, CurrentClient]


def _items(data: Json, key: str, what: str) -> list[Json]:
    items = data.get(key)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise DynsecError(f"the plugin's {what} answer has no '{key}' list")
    return items


def _text(item: Json, key: str, what: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise DynsecError(f"the plugin's {what} answer has an entry without a text '{key}'")
    return value


def parse_current(clients: Json, roles: Json, default_access: Json) -> Current:
    """The plugin's state from the `data` of listClients and listRoles (both verbose) and getDefaultACLAccess."""
    access = {_text(a, "acltype", "getDefaultACLAccess"): a.get("allow") is True
              for a in _items(default_access, "acls", "getDefaultACLAccess")}
    current_roles: dict[str, frozenset[Acl]] = {}
    for r in _items(roles, "roles", "listRoles"):
        acls = r.get("acls", [])
        if not isinstance(acls, list):
            raise DynsecError("the plugin's listRoles answer has a role whose 'acls' is not a list")
        current_roles[_text(r, "rolename", "listRoles")] = frozenset(
            Acl(_text(a, "acltype", "listRoles"), _text(a, "topic", "listRoles"), a.get("allow") is True,
                int(p) if isinstance(p := a.get("priority", 0), int) else 0)
            for a in acls if isinstance(a, dict))
    current_clients: dict[str, CurrentClient] = {}
    for c in _items(clients, "clients", "listClients"):
        name = _text(c, "username", "listClients")
        description = c.get("textdescription")
        role_list = c.get("roles", [])
        names = tuple(sorted(_text(r, "rolename", "listClients") for r in role_list if isinstance(r, dict))) \
            if isinstance(role_list, list) else ()
        current_clients[name] = CurrentClient(name, description if isinstance(description, str) else "",
                                              c.get("disabled") is True, names)
    return Current(access, current_roles, current_clients)


class Change(NamedTuple):
    """One step of a plan, in words: `action` (e.g. "create client"), the role or client, and what it means."""

    action: str
    target: str
    detail: str = ""

    def __str__(self) -> str:
        return " ".join(filter(None, (self.action, self.target))) + (f": {self.detail}" if self.detail else "")


@dataclass
class Plan:
    """The changes in words, the control commands that make them (in order), and what needs a person."""

    changes: list[Change] = field(default_factory=list)
    commands: list[Json] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def add(self, change: Change, *commands: Json) -> None:
        self.changes.append(change)
        self.commands.extend(commands)


def _plan_role(plan: Plan, name: str, want: frozenset[Acl], have: frozenset[Acl] | None) -> None:
    if have is None:
        plan.add(Change("create role", name, f"{len(want)} ACLs"),
                 {"command": "createRole", "rolename": name, "textdescription": "simhost: `simhost mqtt sync` keeps "
                  "this role in step with the registry", "acls": [a.as_json() for a in sorted(want)]})
        return
    if want == have:
        return
    wanted = {(a.acltype, a.topic): a for a in want}
    gone = sorted(a for a in have if wanted.get((a.acltype, a.topic)) != a)
    new = sorted(want - have)
    removals: list[Json] = [{"command": "removeRoleACL", "rolename": name, "acltype": a.acltype, "topic": a.topic}
                            for a in gone]
    additions: list[Json] = [{"command": "addRoleACL", "rolename": name, **a.as_json()} for a in new]
    plan.add(Change("update role", name, f"{len(new)} ACL(s) added, {len(gone)} removed"), *removals, *additions)


def _plan_client(plan: Plan, want: ClientSpec, have: CurrentClient | None) -> None:
    name = want.username
    no_password_note = (f"{name} has no MQTT password on the broker: give it one with `simhost owner password {name}` "
                        "run with SIMHOST_MQTT_DYNSEC=1 (the registry keeps only a hash, which the plugin cannot take)")
    if have is None:
        command: Json = {"command": "createClient", "username": name, "roles": [{"rolename": want.role}]}
        mark: str | None = NO_PASSWORD
        if want.password is not None and want.mark != NO_PASSWORD:
            command["password"], mark = want.password, want.mark
        elif want.mark != NO_PASSWORD and want.enabled:
            plan.notices.append(no_password_note)
        command["textdescription"] = want.description(mark or NO_PASSWORD)
        what = f"{want.kind}, role {want.role}, " + ("with its password" if mark != NO_PASSWORD else "no password")
        plan.add(Change("create client", name, what), command)
        if not want.enabled:
            plan.add(Change("disable client", name), {"command": "disableClient", "username": name})
        return
    if not have.managed:
        plan.notices.append(f"the plugin's client {name} was not made by simhost: left alone (rename or delete it)")
        return
    modify: Json = {}
    reasons = []
    mark = have.mark
    if mark != want.mark:
        if want.password is not None and want.mark != NO_PASSWORD:
            modify["password"], mark = want.password, want.mark
            reasons.append("new password")
        elif mark != NO_PASSWORD:
            # the broker would still take a password the registry no longer has: replace it by one nobody knows
            modify["password"], mark = secrets.token_urlsafe(24), NO_PASSWORD
            reasons.append("password locked (it is not the registry's any more)")
    if want.mark not in (mark, NO_PASSWORD) and want.enabled:
        plan.notices.append(no_password_note)
    if have.description != want.description(mark or NO_PASSWORD):
        modify["textdescription"] = want.description(mark or NO_PASSWORD)
    if have.roles != (want.role,):
        modify["roles"] = [{"rolename": want.role}]
        reasons.append(f"role {want.role}")
    if modify:
        plan.add(Change("modify client", name, ", ".join(reasons) or "description"),
                 {"command": "modifyClient", "username": name, **modify})
    if have.disabled == want.enabled:
        action = "enableClient" if want.enabled else "disableClient"
        plan.add(Change(f"{action[:-6]} client", name), {"command": action, "username": name})


def plan_sync(current: Current, desired: Desired, *, only: str | None = None) -> Plan:
    """The commands that make `current` what `desired` says, in an order the plugin accepts (roles before the
    clients that take them, clients deleted before their roles). With `only` (a username), just that client and
    its role, nothing deleted."""
    plan = Plan()
    if only is None:
        wrong = {k: v for k, v in DEFAULT_ACCESS.items() if current.default_access.get(k) != v}
        if wrong:
            plan.add(Change("set default access", "", ", ".join(f"{k} {'allow' if v else 'deny'}"
                                                               for k, v in wrong.items())),
                     {"command": "setDefaultACLAccess",
                      "acls": [{"acltype": k, "allow": v} for k, v in wrong.items()]})
    clients = desired.clients if only is None else {k: v for k, v in desired.clients.items() if k == only}
    roles = desired.roles if only is None else {c.role: desired.roles[c.role] for c in clients.values()}
    for name in sorted(roles):
        _plan_role(plan, name, roles[name], current.roles.get(name))
    for name in sorted(clients):
        _plan_client(plan, clients[name], current.clients.get(name))
    if only is not None:
        return plan
    for name in sorted(set(current.clients) - set(desired.clients)):
        if current.clients[name].managed:
            plan.add(Change("delete client", name, "no longer in the registry"),
                     {"command": "deleteClient", "username": name})
    for name in sorted(set(current.roles) - set(desired.roles)):
        if name.startswith(ROLE_PREFIX):
            plan.add(Change("delete role", name), {"command": "deleteRole", "rolename": name})
    return plan

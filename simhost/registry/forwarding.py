"""A customer's forwarding settings (e-mail, webhook and its secret, SMPP account, SMS phone): checked and set
in one place for `simhost owner forward` and the REST API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from simhost.delivery.webhook import new_secret
from simhost.inputs import (
    EMAIL_MAX,
    EMAILS_MAX,
    HTTP_SECRET_MAX,
    HTTP_SECRET_MIN,
    HTTP_URL_MAX,
    SMPP_PASSWORD_MAX,
    SMPP_PASSWORD_MIN,
    SMPP_SYSTEM_ID_MAX,
    bounded,
    shown,
)
from simhost.registry import validate
from simhost.registry.models import Customer
from simhost.registry.validate import ValidationError
from simhost.security.mqttauth import hash_password, new_smpp_password

LONG_MODES = ("udh", "payload")  # how long messages reach an SMPP customer: concatenated parts or message_payload


@dataclass(frozen=True)
class ForwardingChange:
    """Checked changes: `fields` are the customer's columns to set (None clears), then the secret to set or
    whether to rotate it."""

    fields: dict[str, str | None] = field(default_factory=dict)
    http_secret: str | None = None
    rotate_http_secret: bool = False
    smpp_password: str | None = None

    @property
    def empty(self) -> bool:
        return (not self.fields and self.http_secret is None and not self.rotate_http_secret
                and self.smpp_password is None)


@dataclass(frozen=True)
class Made:
    """Secrets made by a change, to be shown once: the webhook signing secret, the SMPP password."""

    http_secret: str | None = None
    smpp_password: str | None = None


def check(*, region: str, email: str | None = None, http_url: str | None = None, http_secret: str | None = None,
          rotate_http_secret: bool = False, smpp_system_id: str | None = None, smpp_password: str | None = None,
          smpp_long_mode: str | None = None, msisdn: str | None = None) -> ForwardingChange:
    """The changes asked for, checked (None: unchanged; '': cleared); a ValidationError names the first mistake."""
    changes: dict[str, str | None] = {}
    if email is not None:
        addresses = [bounded(a.strip(), EMAIL_MAX, "e-mail address") for a in email.split(",") if a.strip()]
        bad = [a for a in addresses if "@" not in a.strip("@")]
        if bad:
            raise ValidationError(f"{shown(bad[0])} is not an e-mail address")
        changes["email"] = bounded(", ".join(addresses), EMAILS_MAX, "e-mail addresses") or None
    if http_url is not None:
        bounded(http_url, HTTP_URL_MAX, "HTTP URL")
        if http_url and not http_url.startswith(("http://", "https://")):
            raise ValidationError(f"{shown(http_url)} is not an http:// or https:// URL")
        changes["http_url"] = http_url or None
    if http_secret is not None:
        if rotate_http_secret:
            raise ValidationError("give a new HTTP secret or ask for a rotation, not both")
        bounded(http_secret, HTTP_SECRET_MAX, "HTTP secret")
        if len(http_secret) < HTTP_SECRET_MIN or not http_secret.isprintable() or http_secret != http_secret.strip():
            raise ValidationError(f"the HTTP secret must be {HTTP_SECRET_MIN} to {HTTP_SECRET_MAX} printable "
                                  "characters without surrounding spaces")
    if smpp_system_id is not None:
        bounded(smpp_system_id, SMPP_SYSTEM_ID_MAX, "SMPP system_id")
        if smpp_system_id and (not smpp_system_id.isascii() or not smpp_system_id.isprintable()
                               or smpp_system_id != smpp_system_id.strip()):
            raise ValidationError("the SMPP system_id must be printable ASCII without surrounding spaces")
        changes["smpp_system_id"] = smpp_system_id or None
    if smpp_password is not None and not (SMPP_PASSWORD_MIN <= len(smpp_password) <= SMPP_PASSWORD_MAX
                                          and smpp_password.isascii() and smpp_password.isprintable()):
        raise ValidationError(f"the SMPP password must be {SMPP_PASSWORD_MIN} to {SMPP_PASSWORD_MAX} printable ASCII "
                              "characters (an SMPP 3.4 password field holds 8)")
    if smpp_long_mode is not None:
        if smpp_long_mode not in LONG_MODES:
            raise ValidationError(f"the SMPP long-message mode is one of {', '.join(LONG_MODES)}, not "
                                  f"{shown(smpp_long_mode)}")
        changes["smpp_long_mode"] = smpp_long_mode
    if msisdn is not None:
        changes["forward_msisdn"] = validate.msisdn(msisdn, region) if msisdn else None
    return ForwardingChange(changes, http_secret, rotate_http_secret, smpp_password)


def apply(s: Session, c: Customer, change: ForwardingChange, now: datetime) -> Made:
    """Set `change` on the customer (in the caller's transaction); the secrets made (a signing secret for a rotation
    or a first webhook URL, an SMPP password for an account that has none), to be shown once."""
    wanted_id = change.fields.get("smpp_system_id")
    if wanted_id and s.scalar(select(Customer.login).where(Customer.smpp_system_id == wanted_id,
                                                           Customer.id != c.id)):
        raise ValidationError(f"SMPP system_id {shown(wanted_id)} belongs to another customer")
    for key, value in change.fields.items():
        setattr(c, key, value)
    smpp_made: str | None = None
    if change.smpp_password is not None:
        c.smpp_password_hash = hash_password(change.smpp_password)
    elif c.smpp_system_id and not c.smpp_password_hash:
        smpp_made = new_smpp_password()
        c.smpp_password_hash = hash_password(smpp_made)
    if change.rotate_http_secret:
        if c.http_secret is None:
            raise ValidationError(f"customer {c.login} has no HTTP secret to rotate: set an HTTP URL first")
        made = new_secret()
        c.http_secret_previous, c.http_secret, c.http_secret_rotated_at = c.http_secret, made, now
        return Made(made, smpp_made)
    if change.http_secret is not None:
        c.http_secret, c.http_secret_previous, c.http_secret_rotated_at = change.http_secret, None, None
    elif c.http_url and c.http_secret is None:
        c.http_secret = new_secret()
        return Made(c.http_secret, smpp_made)
    return Made(None, smpp_made)

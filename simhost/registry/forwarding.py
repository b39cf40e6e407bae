"""A customer's forwarding settings (e-mail, webhook and its secret, SMPP account, SMS phone): checked and set
in one place for `simhost owner forward` and the REST API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from simhost.delivery.webhook import new_secret
from simhost.inputs import (
    EMAIL_MAX,
    EMAILS_MAX,
    HTTP_SECRET_MAX,
    HTTP_SECRET_MIN,
    HTTP_URL_MAX,
    SMPP_SYSTEM_ID_MAX,
    bounded,
    shown,
)
from simhost.registry import validate
from simhost.registry.models import Customer
from simhost.registry.validate import ValidationError


@dataclass(frozen=True)
class ForwardingChange:
    """Checked changes: `fields` are the customer's columns to set (None clears), then the secret to set or
    whether to rotate it."""

    fields: dict[str, str | None] = field(default_factory=dict)
    http_secret: str | None = None
    rotate_http_secret: bool = False

    @property
    def empty(self) -> bool:
        return not self.fields and self.http_secret is None and not self.rotate_http_secret


def check(*, region: str, email: str | None = None, http_url: str | None = None, http_secret: str | None = None,
          rotate_http_secret: bool = False, smpp_system_id: str | None = None,
          msisdn: str | None = None) -> ForwardingChange:
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
        changes["smpp_system_id"] = bounded(smpp_system_id, SMPP_SYSTEM_ID_MAX, "SMPP system_id") or None
    if msisdn is not None:
        changes["forward_msisdn"] = validate.msisdn(msisdn, region) if msisdn else None
    return ForwardingChange(changes, http_secret, rotate_http_secret)


def apply(c: Customer, change: ForwardingChange, now: datetime) -> str | None:
    """Set `change` on the customer (in the caller's transaction); the signing secret made, if one was (a rotation,
    or a webhook URL on a customer without a secret), to be shown once."""
    for key, value in change.fields.items():
        setattr(c, key, value)
    if change.rotate_http_secret:
        if c.http_secret is None:
            raise ValidationError(f"customer {c.login} has no HTTP secret to rotate: set an HTTP URL first")
        made = new_secret()
        c.http_secret_previous, c.http_secret, c.http_secret_rotated_at = c.http_secret, made, now
        return made
    if change.http_secret is not None:
        c.http_secret, c.http_secret_previous, c.http_secret_rotated_at = change.http_secret, None, None
    elif c.http_url and c.http_secret is None:
        c.http_secret = new_secret()
        return c.http_secret
    return None

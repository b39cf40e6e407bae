"""Driver registry: BACKENDS (name -> class); open_driver() probes AT+CGMI/AT+CGMM to choose."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from simhost_drivers.at.channel import AtChannel
from simhost_drivers.at.errors import CommandError
from simhost_drivers.at.transport import DEFAULT_BAUDRATE
from simhost_drivers.modems.generic import GenericDriver, make_and_model, sync_channel
from simhost_drivers.modems.huawei import HuaweiDriver
from simhost_drivers.modems.quectel import QuectelDriver
from simhost_drivers.modems.simcom import SimcomDriver

log = logging.getLogger(__name__)

BACKENDS: Mapping[str, type[GenericDriver]] = MappingProxyType({
    "generic": GenericDriver,
    "simcom": SimcomDriver,
    "quectel": QuectelDriver,
    "huawei": HuaweiDriver,
})

# Tried in this order; the generic driver takes whatever no vendor claims.
PROBE_ORDER: tuple[type[GenericDriver], ...] = (SimcomDriver, QuectelDriver, HuaweiDriver)


class UnknownDriverError(ValueError):
    """A driver name that is not in BACKENDS."""


def driver_class(name: str) -> type[GenericDriver]:
    """The class registered as `name`; else UnknownDriverError, one line listing the known."""
    try:
        return BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise UnknownDriverError(f"unknown modem driver {name!r} (known: {known})") from None


def choose_driver(manufacturer: str, model: str) -> type[GenericDriver]:
    """The driver class for a modem identified by AT+CGMI/AT+CGMM."""
    return next((cls for cls in PROBE_ORDER if cls.matches(manufacturer, model)), GenericDriver)


def probe_identity(channel: AtChannel) -> tuple[str, str]:
    """(manufacturer, model) of the modem on `channel`; ("", "") when it refuses to say."""
    sync_channel(channel)
    try:
        return make_and_model(channel)
    except CommandError as exc:
        log.warning("%s: identity probe refused (%s); using the generic driver", channel.name, exc)
        return "", ""


def open_driver(
    url: str,
    name: str | None = None,
    *,
    port_name: str | None = None,
    baudrate: int = DEFAULT_BAUDRATE,
) -> GenericDriver:
    """Open `url` (any pyserial URL) and return the driver `name`, or the one probing picks.

    Probing sends AT+CGMI and AT+CGMM on the channel the driver then keeps.
    """
    chosen = driver_class(name) if name is not None else None
    channel = AtChannel.open(url, name=port_name, baudrate=baudrate)
    try:
        if chosen is None:
            manufacturer, model = probe_identity(channel)
            chosen = choose_driver(manufacturer, model)
            log.info("%s: %r %r -> %s driver", channel.name, manufacturer, model, chosen.name)
        return chosen(channel)
    except BaseException:
        channel.close()
        raise

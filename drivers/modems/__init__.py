"""Modem drivers: the generic 27.005/27.007 driver, vendor dialects as quirks, the registry."""

from simhost_drivers.modems.generic import GenericDriver
from simhost_drivers.modems.huawei import HuaweiDriver
from simhost_drivers.modems.quectel import QuectelDriver
from simhost_drivers.modems.registry import (
    BACKENDS,
    UnknownDriverError,
    choose_driver,
    driver_class,
    open_driver,
    probe_identity,
)
from simhost_drivers.modems.simcom import SimcomDriver
from simhost_drivers.modems.types import (
    CallEntry,
    IccidQuery,
    ModemDriver,
    ModemInfo,
    Quirks,
    RegistrationState,
    StoredPdu,
)
from simhost_drivers.modems.ussd import (
    UssdAnswer,
    UssdError,
    UssdNetworkError,
    UssdTimeoutError,
    UssdUnsupportedError,
)

__all__ = [
    "BACKENDS",
    "CallEntry",
    "GenericDriver",
    "HuaweiDriver",
    "IccidQuery",
    "ModemDriver",
    "ModemInfo",
    "QuectelDriver",
    "Quirks",
    "RegistrationState",
    "SimcomDriver",
    "StoredPdu",
    "UnknownDriverError",
    "UssdAnswer",
    "UssdError",
    "UssdNetworkError",
    "UssdTimeoutError",
    "UssdUnsupportedError",
    "choose_driver",
    "driver_class",
    "open_driver",
    "probe_identity",
]

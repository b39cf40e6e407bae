"""TRACE (level 5) wire logging: one logger per port, `simhost_drivers.at.wire.<port>`."""

from __future__ import annotations

import logging

TRACE = 5
WIRE_LOGGER = "simhost_drivers.at.wire"

logging.addLevelName(TRACE, "TRACE")


def wire_logger(port_name: str) -> logging.Logger:
    """The wire logger of one port (dots in the name would split the logger hierarchy)."""
    return logging.getLogger(f"{WIRE_LOGGER}.{port_name.replace('.', '_')}")


def trace_bytes(logger: logging.Logger, direction: str, data: bytes) -> None:
    """Log `data` as sent ("tx") or received ("rx") when TRACE is enabled for `logger`."""
    if logger.isEnabledFor(TRACE):
        logger.log(TRACE, "%s %r", direction, data)

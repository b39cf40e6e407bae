"""The retained status payloads that say a gateway or its ports went offline, built in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

STOPPED = "stopped"  # a gateway that stopped cleanly has published its ports' final statuses itself
CONNECTION_LOST = "connection lost"  # the gateway's MQTT will: the router marks its ports offline


def gateway_offline(gateway: str, ports: Sequence[str], reason: str) -> dict[str, Any]:
    """A gateway's status when it stops (`STOPPED`) or, as its will, when its connection is lost."""
    return {"state": "offline", "gateway": gateway, "ports": list(ports), "reason": reason}


def port_offline(port: str, gateway: str | None, last_error: str | None = None,
                 last: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A port's status once its gateway is gone: what was last known of it (`last`), marked offline."""
    status = dict(last or {})
    status.update({"port": port, "state": "offline", "gateway": gateway, "since": datetime.now(UTC).isoformat()})
    if last_error is not None:
        status["last_error"] = last_error
    return status

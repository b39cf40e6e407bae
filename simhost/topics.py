"""The MQTT topic names of simhost's public interface (ARCHITECTURE.md §3), version v1."""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Topics:
    """Topic builder for one prefix (default `simhost`)."""

    prefix: str = "simhost"

    @property
    def base(self) -> str:
        return f"{self.prefix}/v{SCHEMA_VERSION}"

    def inbound(self, port: str) -> str:
        return f"{self.base}/inbound/{port}"

    @property
    def inbound_all(self) -> str:
        return f"{self.base}/inbound/+"

    def owner_messages(self, login: str) -> str:
        return f"{self.base}/owners/{login}/messages"

    @property
    def unrouted(self) -> str:
        return f"{self.base}/unrouted"

    def port_status(self, port: str) -> str:
        return f"{self.base}/ports/{port}/status"

    def ussd_request(self, port: str) -> str:
        """Where operators ask the gateway driving `port` for a USSD request (only operators may publish here)."""
        return f"{self.base}/ports/{port}/ussd"

    @property
    def ussd_requests_all(self) -> str:
        return f"{self.base}/ports/+/ussd"

    def ussd_answer(self, port: str, request_id: str) -> str:
        """Where the gateway answers USSD request `request_id` on `port`, step by step."""
        return f"{self.base}/ports/{port}/ussd/{request_id}"

    def gateway_status(self, gateway: str) -> str:
        return f"{self.base}/gateways/{gateway}/status"

    def router_status(self, router: str) -> str:
        return f"{self.base}/routers/{router}/status"

    @property
    def sent(self) -> str:
        return f"{self.base}/sent"

    def owner_sent(self, login: str) -> str:
        """Where customer `login` reports its own sends (the broker lets only that customer publish here)."""
        return f"{self.base}/owners/{login}/sent"

    @property
    def owner_sent_all(self) -> str:
        return f"{self.base}/owners/+/sent"

    def acks(self, port: str) -> str:
        """Where routers confirm the messages of `port` they have routed (only routers may publish here)."""
        return f"{self.base}/acks/{port}"

    @property
    def acks_all(self) -> str:
        return f"{self.base}/acks/+"

    def owner_send(self, login: str) -> str:
        """Where customer `login` asks for an SMS to be sent (the broker lets only that customer publish here)."""
        return f"{self.base}/owners/{login}/send"

    @property
    def owner_send_all(self) -> str:
        return f"{self.base}/owners/+/send"

    def owner_sends(self, login: str) -> str:
        """Where customer `login` is told each of its sends' outcomes, state by state."""
        return f"{self.base}/owners/{login}/sends"

    @property
    def send(self) -> str:
        return f"{self.base}/send"

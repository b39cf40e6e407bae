"""The operators' endpoints: ports, slots, customers, whitelists, assigning an unrouted message (recorded with
the operator and the time, and queued to the customer's channels), retrying deliveries."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from simhost.delivery.models import Delivery
from simhost.registry.models import RoutedMessage
from tests.web.weblib import ACME_NUMBER, SHARED_NUMBER, T0, problem_of, serve


def test_ports_slots_and_customers(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        ports = api.get("/admin/ports", "ops").json
        assert ports == [{"name": "port01", "url": "socket://127.0.0.1:1", "driver": None, "enabled": True,
                          "last_message_at": None, "last_iccid": None, "messages_today": 0, "status": None}]
        slots = api.get("/admin/slots", "ops").json
        assert [(x["msisdn"], x["owner"]) for x in slots] == [(ACME_NUMBER, "acme"), (SHARED_NUMBER, None)]  # type: ignore[union-attr, index]
        assert [x["msisdn"] for x in api.get("/admin/slots?kind=shared", "ops").json] == [SHARED_NUMBER]  # type: ignore[union-attr, index]
        made = api.call("POST", "/admin/customers", {"login": "Gamma", "name": "Gamma Ltd"}, key="ops")
        assert made.status == 201, made.body
        assert (made.data["login"], made.data["verified"]) == ("gamma", False)
        assert isinstance(made.data["mqtt_password"], str)
        problem_of(api.call("POST", "/admin/customers", {"login": "gamma"}, key="ops"), 409)
        problem_of(api.call("POST", "/admin/customers", {"login": "router"}, key="ops"), 422)
        off = api.call("PATCH", "/admin/customers/gamma", {"enabled": False}, key="ops")
        assert off.data["enabled"] is False
        problem_of(api.call("PATCH", "/admin/customers/nobody", {"enabled": False}, key="ops"), 404)
        logins = [c["login"] for c in api.get("/admin/customers", "ops").json]  # type: ignore[union-attr, index]
        assert logins == ["acme", "beta", "gamma"]


def test_whitelists(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        added = api.call("POST", "/admin/whitelists", {"number": ACME_NUMBER, "sender_name": "Sberbank"}, key="ops")
        assert added.status == 201, added.body
        assert added.data["approved_by"] == "ops"
        problem_of(api.call("POST", "/admin/whitelists", {"number": ACME_NUMBER, "sender_name": "SBERBANK"},
                            key="ops"), 409)
        shared = problem_of(api.call("POST", "/admin/whitelists", {"number": SHARED_NUMBER, "sender_name": "VK"},
                                     key="ops"), 422)
        assert "only hosted-company numbers have a sender whitelist" in str(shared["detail"])
        assert [w["sender_name"] for w in api.get("/admin/whitelists", "ops").json] == ["Sberbank"]  # type: ignore[union-attr, index]
        assert api.get("/numbers", "acme").json[0]["whitelist"][0]["sender_name"] == "Sberbank"  # type: ignore[index]
        gone = api.call("DELETE", f"/admin/whitelists?number={ACME_NUMBER.replace('+', '%2B')}&sender_name=sberbank",
                        key="ops")
        assert gone.status == 204
        assert api.get("/admin/whitelists", "ops").json == []


def test_assigning_an_unrouted_message_is_recorded_and_queued(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        api.call("PUT", "/forwarding", {"http_url": "https://beta.test/hook"}, key="beta")
        api.message("u1", status="unrouted", number=SHARED_NUMBER, at=T0)
        api.message("r1", at=T0)
        listed = api.get("/admin/unrouted", "ops").data["items"]
        assert [(m["id"], m["reason_code"]) for m in listed] == [("u1", "no-match")]  # type: ignore[union-attr, index]
        problem_of(api.get("/messages/u1", "beta"), 404)
        done = api.call("POST", "/admin/unrouted/u1/assign", {"owner": "beta"}, key="ops")
        assert done.status == 200, done.body
        assert (done.data["owner"], done.data["rule"], done.data["assigned_by"]) == ("beta", "assigned", "ops")
        with api.sessions() as s:
            row = s.get(RoutedMessage, "u1")
            assert row is not None
            assert (row.status, row.owner, row.assigned_by) == ("routed", "beta", "ops")
            assert row.assigned_at is not None
            assert s.scalars(select(Delivery.owner).where(Delivery.message_id == "u1")).all() == ["beta"]
        assert api.get("/messages/u1", "beta").data["rule"] == "assigned"
        assert api.get("/admin/unrouted", "ops").data["items"] == []
        problem_of(api.call("POST", "/admin/unrouted/u1/assign", {"owner": "acme"}, key="ops"), 409)
        problem_of(api.call("POST", "/admin/unrouted/nope/assign", {"owner": "acme"}, key="ops"), 404)
        problem_of(api.call("POST", "/admin/unrouted/u1/assign", {"owner": "acme"}, key="beta"), 403)


def test_retrying_deliveries(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        api.message("m1")
        with api.sessions.begin() as s:
            s.add(Delivery(message_id="m1", owner="acme", channel="http", kind="message", state="dead", tries=14,
                           next_try_at=T0, created_at=T0))
        assert api.get("/admin/deliveries?state=dead", "ops").data["items"][0]["tries"] == 14  # type: ignore[index]
        assert api.call("POST", "/admin/deliveries/retry", {"owner": "acme"}, key="ops").data == {"revived": 1}
        assert api.get("/admin/deliveries", "ops").data["items"][0]["state"] == "pending"  # type: ignore[index]
        problem_of(api.call("POST", "/admin/deliveries/retry", {}, key="ops"), 422)
        problem_of(api.call("POST", "/admin/deliveries/retry", {"ids": [999]}, key="ops"), 404)

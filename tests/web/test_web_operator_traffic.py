"""The operators' traffic endpoints: every customer's messages (routed and not) in cursor pages, every send, and an
SMS queued on a customer's behalf, as `simhost inbox`, `simhost sends` and `simhost send --owner` see them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from simhost.sending.models import Send
from tests.web.test_web_operator_registry import cli, detail, rows
from tests.web.weblib import ACME_NUMBER, SHARED_NUMBER, T0, problem_of, serve


def ids(items: object) -> list[object]:
    return [m["id"] for m in rows(items)]


def test_every_message_routed_or_not(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        api.message("r1", owner="acme", at=T0)
        api.message("u1", status="unrouted", number=SHARED_NUMBER, sender="+79160000001", at=T0 + timedelta(minutes=1))
        api.message("b1", owner="beta", at=T0 + timedelta(minutes=2), kind="call", text="[CALL]")
        everything = api.get("/admin/messages", "ops").data
        assert ids(everything["items"]) == ["b1", "u1", "r1"]
        assert everything["items"][1]["reason_code"] == "no-match"  # type: ignore[index]
        assert ids(api.get("/admin/messages?owner=ACME", "ops").data["items"]) == ["r1"]
        assert ids(api.get("/admin/messages?status=unrouted", "ops").data["items"]) == ["u1"]
        assert ids(api.get("/admin/messages?number=89000000009", "ops").data["items"]) == ["u1"]
        assert ids(api.get("/admin/messages?sender=%2B79160000001", "ops").data["items"]) == ["u1"]
        assert ids(api.get("/admin/messages?kind=call", "ops").data["items"]) == ["b1"]
        window = f"since={(T0 + timedelta(seconds=30)).isoformat()}&until={(T0 + timedelta(minutes=2)).isoformat()}"
        assert ids(api.get(f"/admin/messages?{window.replace('+', '%2B')}", "ops").data["items"]) == ["u1"]
        first = api.get("/admin/messages?limit=2", "ops").data
        assert ids(first["items"]) == ["b1", "u1"]
        rest = api.get(f"/admin/messages?limit=2&cursor={first['next_cursor']}", "ops").data
        assert (ids(rest["items"]), rest["next_cursor"]) == (["r1"], None)
        assert detail(api, "GET", "/admin/messages?owner=nobody", None, 422) == \
            "no customer with login 'nobody' (see `simhost owner list`)"
        problem_of(api.get("/admin/messages?status=lost", "ops"), 422)
        problem_of(api.get("/admin/messages", "acme"), 403)
        assert [m["id"] for m in cli(tmp_path).json("inbox")] == ["b1", "u1", "r1"]


def test_an_sms_on_a_customers_behalf(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        sms = {"owner": "acme", "from": ACME_NUMBER, "to": "8 916 123-45-67", "text": "Your code is 1234"}
        sent = api.call("POST", "/admin/sms", sms, key="ops", headers={"Idempotency-Key": "order-1"})
        assert sent.status == 202, sent.body
        assert (sent.data["owner"], sent.data["state"], sent.data["to"]) == ("acme", "queued", "+79161234567")
        again = api.call("POST", "/admin/sms", sms, key="ops", headers={"Idempotency-Key": "order-1"})
        assert (again.data["id"], again.headers["idempotent-replayed"]) == (sent.data["id"], "true")
        mine = api.call("POST", "/sms", {k: v for k, v in sms.items() if k != "owner"}, key="acme",
                        headers={"Idempotency-Key": "order-1"})
        assert mine.data["id"] == sent.data["id"]  # the key is the customer's, whoever uses it
        problem_of(api.call("POST", "/admin/sms", {**sms, "text": "other"}, key="ops",
                            headers={"Idempotency-Key": "order-1"}), 409)
        refused = problem_of(api.call("POST", "/admin/sms", {**sms, "owner": "beta"}, key="ops"), 422)
        assert (refused["type"], refused["detail"]) == ("urn:simhost:problem:send-refused",
                                                        f"{ACME_NUMBER} is not beta's number")
        assert detail(api, "POST", "/admin/sms", {**sms, "owner": "nobody"}, 422) == \
            "no customer with login 'nobody' (see `simhost owner list`)"
        problem_of(api.call("POST", "/admin/sms", {**sms, "owner": ""}, key="ops"), 422)
        problem_of(api.call("POST", "/admin/sms", sms, key="acme"), 403)
        with api.sessions() as s:
            row = s.get(Send, str(sent.data["id"]))
            assert row is not None
            assert row.source == "api"

        listed = api.get("/admin/sends", "ops").data
        assert [(x["owner"], x["state"]) for x in rows(listed["items"])] == [("beta", "failed"), ("acme", "queued")]
        assert ids(api.get("/admin/sends?owner=acme&state=queued", "ops").data["items"]) == [sent.data["id"]]
        assert api.get("/admin/sends?owner=beta&state=queued", "ops").data["items"] == []
        first = api.get("/admin/sends?limit=1", "ops").data
        assert len(ids(api.get(f"/admin/sends?limit=1&cursor={first['next_cursor']}", "ops").data["items"])) == 1
        problem_of(api.get("/admin/sends?owner=nobody", "ops"), 422)
        problem_of(api.get("/admin/sends", "beta"), 403)
        assert [(x["owner"], x["id"]) for x in cli(tmp_path).json("sends", "--owner", "acme")] == \
            [("acme", sent.data["id"])]


def test_the_new_endpoints_are_in_the_openapi_document_typed(tmp_path: Path) -> None:
    expected = {  # (path, method): (request model, status, response model)
        ("/admin/ports", "post"): ("NewPort", "201", "RegisteredPort"),
        ("/admin/ports/{name}", "delete"): (None, "204", None),
        ("/admin/slots", "post"): ("NewSlot", "201", "RegisteredSlot"),
        ("/admin/slots/{number}", "get"): (None, "200", "SlotOut"),
        ("/admin/slots/{number}", "patch"): ("SlotChange", "200", "SlotOut"),
        ("/admin/customers/{login}", "get"): (None, "200", "CustomerDetail"),
        ("/admin/customers/{login}/forwarding", "put"): ("ForwardingChange", "200", "Forwarding"),
        ("/admin/customers/{login}/mqtt-password", "post"): (None, "200", "NewPassword"),
        ("/admin/customers/{login}/web-password", "post"): (None, "200", "NewPassword"),
        ("/admin/messages", "get"): (None, "200", "DetailPage"),
        ("/admin/sends", "get"): (None, "200", "OwnedSendPage"),
        ("/admin/sms", "post"): ("OperatorSmsRequest", "202", "OwnedSendOut"),
    }
    with serve(tmp_path) as api:
        paths = api.get("/openapi.json").data["paths"]
    assert isinstance(paths, dict)
    for (path, method), (request, status, response) in expected.items():
        op = paths[f"/api/v1{path}"][method]
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        assert body.get("$ref", "").rpartition("/")[2] == (request or ""), (path, method, body)
        answer = op["responses"][status].get("content", {}).get("application/json", {}).get("schema", {})
        assert answer.get("$ref", "").rpartition("/")[2] == (response or ""), (path, method, answer)
        assert "application/problem+json" in op["responses"]["403"]["content"], (path, method)

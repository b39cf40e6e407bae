"""The customers' endpoints: message filters and cursor pages while messages arrive, POST /sms with an
Idempotency-Key, refused sends as problems, forwarding with the CLI's checks, deliveries with their tries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from simhost.delivery.models import Delivery, DeliveryAttempt
from simhost.sending.models import Send
from tests.web.weblib import ACME_NUMBER, T0, problem_of, serve


def test_message_filters(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        api.message("m1", at=T0, text="100% off_today", sender="+79161111111")
        api.message("m2", at=T0 + timedelta(minutes=1), text="plain hello", sender="+79162222222")
        api.message("m3", at=T0 + timedelta(minutes=2), text="[CALL]", kind="call", sender="+79162222222")
        api.message("b1", owner="beta", at=T0, text="100% off_today")

        def ids(query: str) -> list[str]:
            reply = api.get(f"/messages{query}", "acme")
            assert reply.status == 200, reply.body
            return [m["id"] for m in reply.data["items"]]  # type: ignore[attr-defined]

        assert ids("") == ["m3", "m2", "m1"]
        assert ids("?kind=call") == ["m3"]
        assert ids("?sender=%2B79162222222&kind=sms") == ["m2"]
        assert ids("?q=100%25") == ["m1"]
        assert ids("?q=f_t") == ["m1"]  # `_` and `%` are taken literally
        assert ids("?q=0_%25") == []
        assert ids(f"?since={(T0 + timedelta(minutes=1)).isoformat().replace('+', '%2B')}") == ["m3", "m2"]
        assert ids("?until=2026-12-01T12:01:00Z") == ["m1"]
        assert ids(f"?number={ACME_NUMBER.replace('+', '%2B')}") == ["m3", "m2", "m1"]
        assert ids("?number=89000000001") == ["m3", "m2", "m1"]  # any form the region reads
        bad = problem_of(api.get("/messages?since=yesterday", "acme"), 422)
        assert "ISO 8601" in str(bad["detail"])
        problem_of(api.get("/messages?kind=fax", "acme"), 422)
        problem_of(api.get("/messages?limit=201", "acme"), 422)
        problem_of(api.get("/messages?cursor=garbage", "acme"), 422)
        detail = api.get("/messages/m1", "acme").data
        assert (detail["rule"], detail["reason"], detail["message"]) == ("dedicated", None, {
            "id": "m1", "kind": "sms", "owner": "acme", "sender": "+79161111111", "text": "100% off_today",
            "number": ACME_NUMBER})


def test_pages_have_no_duplicates_or_gaps_while_messages_arrive(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        for i in range(25):  # some share a time: the id breaks the tie
            api.message(f"m{i:02d}", at=T0 + timedelta(seconds=i // 3))
        seen: list[str] = []
        cursor = ""
        arrived = 0
        while True:
            reply = api.get(f"/messages?limit=4{cursor}", "acme")
            assert reply.status == 200, reply.body
            seen += [m["id"] for m in reply.data["items"]]  # type: ignore[attr-defined]
            api.message(f"new{arrived}", at=T0 + timedelta(hours=1, seconds=arrived))  # newer than any page
            api.message(f"newer-old{arrived}", owner="beta", at=T0)
            arrived += 1
            if reply.data["next_cursor"] is None:
                break
            cursor = f"&cursor={reply.data['next_cursor']}"
        expected = sorted((f"m{i:02d}" for i in range(25)), key=lambda m: (int(m[1:]) // 3, m), reverse=True)
        assert seen == expected


def test_send_sms_with_an_idempotency_key_twice_is_one_send(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        body = {"from": ACME_NUMBER, "to": "+79161234567", "text": "your code is 1234"}
        first = api.call("POST", "/sms", body, key="acme", headers={"Idempotency-Key": "order-1"})
        assert first.status == 202, first.body
        assert (first.data["state"], first.data["client_id"], first.data["from"]) == ("queued", "order-1",
                                                                                      ACME_NUMBER)
        again = api.call("POST", "/sms", body, key="acme", headers={"Idempotency-Key": "order-1"})
        assert again.status == 202
        assert again.data["id"] == first.data["id"]
        assert again.headers["idempotent-replayed"] == "true"
        other = api.call("POST", "/sms", {**body, "text": "another"}, key="acme",
                         headers={"Idempotency-Key": "order-1"})
        problem_of(other, 409)
        with api.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Send)) == 1
        listed = api.get("/sends", "acme").data["items"]
        assert [x["id"] for x in listed] == [first.data["id"]]  # type: ignore[union-attr]
        assert api.get(f"/sends/{first.data['id']}", "acme").data["text"] == "your code is 1234"
        problem_of(api.get(f"/sends/{first.data['id']}", "beta"), 404)
        assert api.get("/sends", "beta").data["items"] == []


def test_a_refused_send_is_a_422_problem_with_the_reason(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        refused = api.call("POST", "/sms", {"from": ACME_NUMBER, "to": "+79161234567", "text": "hi"}, key="beta")
        data = problem_of(refused, 422)
        assert data["type"] == "urn:simhost:problem:send-refused"
        assert data["detail"] == f"{ACME_NUMBER} is not beta's number"
        assert data["reason_code"] == "refused"
        missing = problem_of(api.call("POST", "/sms", {"from": "shared", "text": "hi"}, key="beta"), 422)
        assert missing["errors"] == [{"field": "body.to", "message": "Field required", "type": "missing"}]
        problem_of(api.call("POST", "/sms", raw=b"{not json", key="beta"), 422)
        assert api.call("POST", "/sms", {"from": "shared", "to": "+79161234567", "text": "hi"}, key="beta"
                        ).status == 202


def test_forwarding_is_checked_like_owner_forward(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        start = api.get("/forwarding", "acme").data
        assert start == {"email": None, "http_url": None, "http_secret_set": False, "http_secret_rotated_at": None,
                         "smpp_system_id": None, "smpp_password_set": False, "smpp_long_mode": "udh", "msisdn": None,
                         "http_secret": None, "smpp_password": None}
        set_url = api.call("PUT", "/forwarding", {"http_url": "https://acme.test/hook", "msisdn": "89161234567"},
                           key="acme")
        assert set_url.status == 200, set_url.body
        secret = set_url.data["http_secret"]
        assert isinstance(secret, str)
        assert secret.startswith("whsec_")
        assert set_url.data["msisdn"] == "+79161234567"
        assert api.get("/forwarding", "acme").data["http_secret"] is None  # shown once
        for change, words in [({"http_url": "ftp://x"}, "not an http:// or https:// URL"),
                              ({"email": "nobody"}, "is not an e-mail address"),
                              ({"http_secret": "short"}, "printable characters"),
                              ({"msisdn": "call me"}, "is not a phone number"),
                              ({"smpp_system_id": "x" * 16}, "too long")]:
            problem = problem_of(api.call("PUT", "/forwarding", change, key="acme"), 422)
            assert words in str(problem["detail"]), problem
        problem_of(api.call("PUT", "/forwarding", {"colour": "red"}, key="acme"), 422)
        rotated = api.call("PUT", "/forwarding", {"rotate_http_secret": True}, key="acme").data
        assert rotated["http_secret"] not in (None, secret)
        assert rotated["http_secret_rotated_at"] is not None
        cleared = api.call("PUT", "/forwarding", {"http_url": None, "msisdn": ""}, key="acme").data
        assert (cleared["http_url"], cleared["msisdn"]) == (None, None)
        assert api.get("/forwarding", "beta").data["http_url"] is None


def test_deliveries_with_every_try(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        api.message("m1")
        api.message("b1", owner="beta")
        with api.sessions.begin() as s:
            d = Delivery(message_id="m1", owner="acme", channel="http", kind="message", state="pending", tries=2,
                         next_try_at=T0, last_error="HTTP 500", created_at=T0)
            s.add(d)
            s.add(Delivery(message_id="b1", owner="beta", channel="http", kind="message", state="pending", tries=0,
                           next_try_at=T0, created_at=T0))
            s.flush()
            for i, code in enumerate((502, 500)):
                s.add(DeliveryAttempt(delivery_id=d.id, at=T0 + timedelta(seconds=i), result="retry",
                                      status_code=code, error=f"HTTP {code}", latency_ms=12))
        items = api.get("/deliveries", "acme").data["items"]
        assert isinstance(items, list)
        assert len(items) == 1
        assert items[0]["message_id"] == "m1"
        assert [a["status_code"] for a in items[0]["attempts"]] == [502, 500]
        assert api.get("/deliveries?state=dead", "acme").data["items"] == []


def test_numbers_are_the_customers_own(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        assert api.get("/numbers", "acme").json == [
            {"msisdn": ACME_NUMBER, "kind": "hosted-company", "enabled": True, "whitelist": []}]
        assert api.get("/numbers", "beta").json == []

"""Who may call the API: no key, a wrong or revoked key are 401 with WWW-Authenticate; a customer never sees
another's message (404, not 403); web sessions by cookie, with the CSRF header for changes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from simhost.security.apikeys import revoke_key
from simhost.security.models import ApiKey
from tests.web.weblib import problem_of, serve


def test_no_key_wrong_key_and_revoked_key_are_401_with_bearer_challenge(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        assert api.get("/messages", "acme").status == 200
        wrong_secret = api.keys["acme"][:-1] + ("B" if api.keys["acme"].endswith("A") else "A")
        for key in (None, "sk_nosuchkey1_" + "x" * 43, "not-a-key", wrong_secret):
            reply = api.get("/messages", key)
            problem_of(reply, 401)
            assert reply.headers["www-authenticate"].startswith("Bearer")
        key_id = api.keys["acme"].split("_")[1]
        with api.sessions.begin() as s:
            acme = s.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
            assert acme is not None
            assert acme.last_used_at is not None
            revoke_key(s, key_id, customer_id=acme.customer_id)
        assert problem_of(api.get("/messages", "acme"), 401)["detail"]


def test_a_customer_cannot_read_another_customers_message(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        api.message("m-acme", owner="acme")
        assert api.get("/messages/m-acme", "acme").data["id"] == "m-acme"
        problem_of(api.get("/messages/m-acme", "beta"), 404)  # as if it did not exist
        problem_of(api.get("/messages/no-such", "beta"), 404)
        assert api.get("/messages", "beta").data["items"] == []


def test_customers_and_operators_keep_to_their_endpoints(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        problem_of(api.get("/admin/customers", "acme"), 403)
        problem_of(api.get("/messages", "ops"), 403)
        assert api.get("/session", "ops").data == {"role": "operator", "name": "ops", "expires_in": None}


def test_web_session_cookie_signs_in_and_needs_the_csrf_header_to_change_anything(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        problem_of(api.call("POST", "/session", {"login": "acme", "password": "wrong"}), 401)
        reply = api.call("POST", "/session", {"login": "acme", "password": api.passwords["acme"]})
        assert reply.status == 200, reply.body
        cookie = reply.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie.replace("Lax", "lax")
        session = {"Cookie": cookie.split(";")[0]}
        assert api.call("GET", "/session", headers=session).data["name"] == "acme"
        assert api.call("GET", "/forwarding", headers=session).status == 200
        change = {"email": "ops@acme.test"}
        assert problem_of(api.call("PUT", "/forwarding", change, headers=session), 403)["type"].endswith("csrf")
        ok = api.call("PUT", "/forwarding", change, headers={**session, "X-Requested-With": "fetch"})
        assert ok.status == 200
        assert ok.data["email"] == "ops@acme.test"
        tampered = {"Cookie": session["Cookie"][:-2] + ("00" if not session["Cookie"].endswith("00") else "11")}
        problem_of(api.call("GET", "/session", headers=tampered), 401)
        op = api.call("POST", "/session", {"login": "ops", "password": api.passwords["ops"], "role": "operator"})
        assert op.status == 200
        assert api.call("GET", "/admin/customers", headers={"Cookie": op.headers["set-cookie"].split(";")[0]}
                        ).status == 200

"""The operators' registry endpoints: ports, SIM slots, a customer's details, forwarding and passwords — checked
with the command line's sentences, seen by `simhost port|slot|owner`, and (but for ports, which the gateway
rescans) bumping the registry version a router reloads on."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from simhost.gateway.service import load_ports
from simhost.registry.models import Customer, current_version
from simhost.registry.snapshot import load_directory
from simhost.security.mqttauth import check_password
from tests.registry.test_registry_cli import Cli, make_iccid
from tests.web.weblib import ACME_NUMBER, SHARED_NUMBER, Api, problem_of, serve

NEW_NUMBER = "+79000000021"


def version(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return current_version(s)


def cli(tmp_path: Path) -> Cli:
    return Cli(f"sqlite:///{tmp_path}/api.db")


def rows(value: object) -> list[dict[str, object]]:
    """A JSON list of objects."""
    assert isinstance(value, list)
    assert all(isinstance(x, dict) for x in value)
    return value


def detail(api: Api, method: str, path: str, body: object, status: int) -> str:
    """The problem's detail of a call that must fail with `status`."""
    return str(problem_of(api.call(method, path, body, key="ops"), status)["detail"])


def test_ports_are_registered_and_removed(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        made = api.call("POST", "/admin/ports", {"name": "port02", "url": f"{tmp_path}/ttyNone"}, key="ops")
        assert made.status == 201, made.body
        assert made.data["warning"] == f"'{tmp_path}/ttyNone' does not exist (yet); the gateway will keep trying " \
                                       "to open it"
        quiet = api.call("POST", "/admin/ports", {"name": "port03", "url": "socket://127.0.0.1:9", "driver": "simcom"},
                         key="ops")
        assert (quiet.status, quiet.data["warning"], quiet.data["driver"]) == (201, None, "simcom")
        assert detail(api, "POST", "/admin/ports", {"name": "port02", "url": "socket://x:1"}, 409) == \
            "port 'port02' is already registered (see `simhost port list`)"
        assert detail(api, "POST", "/admin/ports", {"name": "a/b", "url": "socket://x:1"}, 422).startswith(
            "port name 'a/b' is not valid: use 1-64 letters")
        assert detail(api, "POST", "/admin/ports", {"name": "p4", "url": "socket://x:1", "driver": "nokia"},
                      422).startswith("driver 'nokia' is not one of ")
        problem_of(api.call("POST", "/admin/ports", {"name": "p5", "url": "socket://x:1"}, key="acme"), 403)
        problem_of(api.call("DELETE", "/admin/ports/port02", key="acme"), 403)
        listed = [p["name"] for p in cli(tmp_path).json("port", "list")]
        assert listed == ["port01", "port02", "port03"]
        assert [p.name for p in load_ports(api.sessions)] == listed  # what the gateway's rescan reads
        assert api.call("DELETE", "/admin/ports/port02", key="ops").status == 204
        assert detail(api, "DELETE", "/admin/ports/port02", None, 404) == \
            "no port named 'port02' (see `simhost port list`)"
        assert [p["name"] for p in cli(tmp_path).json("port", "list")] == ["port01", "port03"]


def test_slots_are_registered_with_the_command_lines_checks(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        api.call("POST", "/admin/customers", {"login": "gamma"}, key="ops")  # not verified
        before = version(api.sessions)
        new = {"bank": 2, "slot": 1, "iccid": make_iccid(21), "msisdn": "8 900 000-00-21", "kind": "virtual",
               "owner": "ACME", "port": "port01"}
        made = api.call("POST", "/admin/slots", new, key="ops")
        assert made.status == 201, made.body
        assert (made.data["msisdn"], made.data["owner"], made.data["port"], made.data["note"]) == \
            (NEW_NUMBER, "acme", "port01", None)
        assert version(api.sessions) > before
        with api.sessions() as s:
            assert load_directory(s).numbers[NEW_NUMBER].owner == "acme"
        assert [r["msisdn"] for r in cli(tmp_path).json("slot", "list", "--owner", "acme")] == \
            [ACME_NUMBER, NEW_NUMBER]
        assert detail(api, "POST", "/admin/slots", {**new, "bank": 3}, 409) == \
            f"ICCID {make_iccid(21)} is already registered to bank 2 slot 1 ({NEW_NUMBER})"
        other = {**new, "bank": 3, "iccid": make_iccid(22), "msisdn": "+79000000022"}
        wrong = make_iccid(22)[:-1] + str((int(make_iccid(22)[-1]) + 1) % 10)
        assert "its last digit fails the Luhn check" in detail(api, "POST", "/admin/slots", {**other, "iccid": wrong},
                                                               422)
        assert detail(api, "POST", "/admin/slots", {**other, "kind": "gold"}, 422) == \
            "kind 'gold' is not one of shared, virtual, hosted-company, hosted-client"
        assert detail(api, "POST", "/admin/slots", {**other, "owner": "nobody"}, 422) == \
            "no customer with login 'nobody' (see `simhost owner list`)"
        assert detail(api, "POST", "/admin/slots", {**other, "owner": "gamma"}, 422).startswith(
            "customer 'gamma' is not verified: only verified customers may own virtual numbers")
        assert detail(api, "POST", "/admin/slots", {**other, "kind": "shared"}, 422).startswith(
            "a shared number has no owner")
        assert detail(api, "POST", "/admin/slots", {**other, "port": "nope"}, 422) == \
            "no port named 'nope' (see `simhost port list`)"
        lone = api.call("POST", "/admin/slots", {**other, "kind": "hosted-client", "owner": None}, key="ops")
        assert lone.status == 201, lone.body
        assert str(lone.data["note"]).startswith("+79000000022 has no owner yet")
        problem_of(api.call("POST", "/admin/slots", {**other, "bank": 4}, key="acme"), 403)


def test_a_slot_is_shown_and_changed(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        shown = api.get(f"/admin/slots/{ACME_NUMBER.replace('+', '%2B')}", "ops").data
        assert (shown["owner"], shown["whitelist"]) == ("acme", [])
        assert api.get(f"/admin/slots/{shown['iccid']}", "ops").data["msisdn"] == ACME_NUMBER
        assert detail(api, "GET", "/admin/slots/89000000099", None, 404) == \
            "no SIM slot has number +79000000099 (see `simhost slot list`)"
        problem_of(api.get("/admin/slots/not-a-number", "ops"), 422)
        problem_of(api.get(f"/admin/slots/{shown['iccid']}", "acme"), 403)

        path = f"/admin/slots/{shown['iccid']}"
        before = version(api.sessions)
        off = api.call("PATCH", path, {"enabled": False}, key="ops")
        assert (off.status, off.data["enabled"]) == (200, False)
        assert version(api.sessions) > before
        with api.sessions() as s:
            assert load_directory(s).numbers[ACME_NUMBER].enabled is False
        assert cli(tmp_path).json("slot", "show", ACME_NUMBER)["enabled"] is False
        before = version(api.sessions)
        assert api.call("PATCH", path, {"owner": "beta"}, key="ops").data["owner"] == "beta"
        assert version(api.sessions) > before
        assert cli(tmp_path).json("slot", "show", ACME_NUMBER)["owner"] == "beta"
        assert detail(api, "PATCH", "/admin/slots/89000000009", {"owner": "acme"}, 422) == \
            f"{SHARED_NUMBER} (bank 1 slot 9) is a shared number: shared numbers have no owner"
        assert detail(api, "PATCH", path, {"owner": "nobody"}, 422) == \
            "no customer with login 'nobody' (see `simhost owner list`)"
        assert detail(api, "PATCH", path, {"kind": "shared"}, 422).startswith(
            f"{ACME_NUMBER} (bank 1 slot 1) belongs to beta: a shared number has no owner")
        assert detail(api, "PATCH", path, {"port": "nope"}, 422) == "no port named 'nope' (see `simhost port list`)"
        assert detail(api, "PATCH", "/admin/slots/89000000099", {"enabled": True}, 404).startswith("no SIM slot")
        moved = api.call("PATCH", path, {"kind": "shared", "owner": None, "port": None, "enabled": True}, key="ops")
        assert (moved.data["kind"], moved.data["owner"], moved.data["port"], moved.data["enabled"]) == \
            ("shared", None, None, True)
        row = cli(tmp_path).json("slot", "show", ACME_NUMBER)
        assert (row["kind"], row["owner"], row["port"]) == ("shared", None, None)
        problem_of(api.call("PATCH", path, {"enabled": False}, key="beta"), 403)


def test_a_customer_is_shown_its_forwarding_set_and_passwords_made(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        acme = api.get("/admin/customers/ACME", "ops").data
        assert (acme["login"], acme["mqtt_password_set"], acme["web_password_set"]) == ("acme", True, False)
        assert [n["msisdn"] for n in rows(acme["numbers"])] == [ACME_NUMBER]
        assert detail(api, "GET", "/admin/customers/nobody", None, 404) == \
            "no customer with login 'nobody' (see `simhost owner list`)"
        problem_of(api.get("/admin/customers/acme", "acme"), 403)

        before = version(api.sessions)
        put = api.call("PUT", "/admin/customers/acme/forwarding", {"http_url": "https://acme.test/hook"}, key="ops")
        assert put.status == 200, put.body
        secret = put.data["http_secret"]
        assert isinstance(secret, str)
        assert put.data["http_secret_set"] is True
        assert version(api.sessions) > before
        again = api.get("/admin/customers/acme", "ops").data["forwarding"]
        assert isinstance(again, dict)
        assert again["http_secret_set"] is True
        assert again["http_secret"] is None
        assert secret not in api.get("/admin/customers/acme", "ops").body.decode()
        shown = cli(tmp_path).json("owner", "show", "acme")["forwarding"]
        assert (shown["http_url"], shown["http_secret"]) == ("https://acme.test/hook", "set")
        assert detail(api, "PUT", "/admin/customers/acme/forwarding", {"email": "nope"}, 422) == \
            "'nope' is not an e-mail address"
        problem_of(api.call("PUT", "/admin/customers/nobody/forwarding", {"email": "a@b.c"}, key="ops"), 404)
        problem_of(api.call("PUT", "/admin/customers/acme/forwarding", {"email": "a@b.c"}, key="acme"), 403)

        before = version(api.sessions)
        mqtt = api.call("POST", "/admin/customers/acme/mqtt-password", key="ops")
        assert mqtt.status == 200, mqtt.body
        password = str(mqtt.data["password"])
        assert version(api.sessions) > before  # the broker's password file and the routers follow the registry
        with api.sessions() as s:
            row = s.query(Customer).filter_by(login="acme").one()
            assert row.mqtt_password_hash is not None
            assert check_password(password, row.mqtt_password_hash)
        assert api.call("POST", "/session", {"login": "acme", "password": password}).status == 200
        problem_of(api.call("POST", "/session", {"login": "acme", "password": api.passwords["acme"]}), 401)

        before = version(api.sessions)
        web = api.call("POST", "/admin/customers/acme/web-password", key="ops")
        assert web.status == 200
        assert web.data["note"] is None
        assert version(api.sessions) == before  # as `simhost owner password --web`: nothing a router reads
        assert api.call("POST", "/session", {"login": "acme", "password": web.data["password"]}).status == 200
        problem_of(api.call("POST", "/session", {"login": "acme", "password": password}), 401)
        assert api.get("/admin/customers/acme", "ops").data["web_password_set"] is True
        problem_of(api.call("POST", "/admin/customers/nobody/web-password", key="ops"), 404)
        problem_of(api.call("POST", "/admin/customers/acme/mqtt-password", key="acme"), 403)

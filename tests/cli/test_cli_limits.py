"""Every text the CLI stores has a length limit, named in the error; no error repeats a long input whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from simhost import inputs
from simhost.db import upgrade
from simhost.registry import validate
from tests.cli.clilib import fails, invoke, ok

LONG = 3000
LONGEST_ERROR = 300  # characters: a long input is quoted as a short prefix
NUMBER = "+79161234567"


def iccid(n: int) -> str:
    body = f"8970199{n:012d}"
    return body + validate.luhn_check_digit(body)


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A migrated database with a verified customer `acme` and a hosted-company number NUMBER."""
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade(url)
    ok("--db", url, "owner", "add", "acme", "--verified")
    ok("--db", url, "slot", "add", "--bank", "1", "--slot", "1", "--iccid", iccid(1), "--msisdn", NUMBER,
       "--kind", "hosted-company", "--owner", "acme")
    return url


def assert_short_and_names(line: str, value: str, *words: str) -> None:
    assert len(line) < LONGEST_ERROR, line
    assert value not in line
    assert "…" in line, line
    for word in words:
        assert word in line, line


# (what, limit, the command given a value, a value of `n` characters)
STORED: list[tuple[str, int, Callable[[str], list[str]], Callable[[int], str]]] = [
    ("login", inputs.LOGIN_MAX, lambda v: ["owner", "add", v], lambda n: "a" * n),
    ("customer name", inputs.CUSTOMER_NAME_MAX, lambda v: ["owner", "add", "bravo", "--name", v], lambda n: "N" * n),
    ("e-mail address", inputs.EMAIL_MAX, lambda v: ["owner", "forward", "acme", "--email", v],
     lambda n: "x@" + "e" * (n - 2)),
    ("e-mail addresses", inputs.EMAILS_MAX, lambda v: ["owner", "forward", "acme", "--email", v],
     lambda n: ", ".join(["x@" + "e" * 97] * (n // 101)) + ", x@" + "e" * (n % 101 - 2)),
    ("HTTP URL", inputs.HTTP_URL_MAX, lambda v: ["owner", "forward", "acme", "--http-url", v],
     lambda n: "https://" + "h" * (n - 8)),
    ("SMPP system_id", inputs.SMPP_SYSTEM_ID_MAX, lambda v: ["owner", "forward", "acme", "--smpp-system-id", v],
     lambda n: "s" * n),
    ("port name", inputs.PORT_NAME_MAX, lambda v: ["port", "add", v, "--url", "/dev/ttyUSB0"], lambda n: "p" * n),
    ("port URL", inputs.PORT_URL_MAX, lambda v: ["port", "add", "p1", "--url", v], lambda n: "/dev/" + "u" * (n - 5)),
    ("sender name", inputs.SENDER_NAME_MAX, lambda v: ["whitelist", "add", NUMBER, v], lambda n: "S" * n),
    ("approver", inputs.APPROVER_MAX, lambda v: ["whitelist", "add", NUMBER, "Bank", "--by", v], lambda n: "b" * n),
    ("sender", inputs.SENT_FROM_MAX, lambda v: ["sent", "record", "--from", v, "--to", "+79035550001", "--owner",
                                                "acme"], lambda n: "F" * n),
]


@pytest.mark.parametrize(("what", "limit", "command", "value"), STORED, ids=[s[0] for s in STORED])
def test_stored_texts_have_a_limit_named_in_the_error(db: str, what: str, limit: int,
                                                      command: Callable[[str], list[str]],
                                                      value: Callable[[int], str]) -> None:
    assert len(value(limit)) == limit
    assert len(value(limit + 1)) == limit + 1
    for n in (limit + 1, LONG):
        line = fails("--db", db, *command(value(n)))
        assert f"at most {limit}" in line, line
        assert what in line, line
        assert str(n) in line, line
        if n > inputs.SHOWN_MAX:
            assert_short_and_names(line, value(n))
    ok("--db", db, *command(value(limit)))


@pytest.mark.parametrize("command", [
    ["owner", "show", "x" * LONG],
    ["owner", "enable", "x" * LONG],
    ["port", "remove", "x" * LONG],
    ["slot", "show", "9" * LONG],
    ["slot", "show", "+7" + "x" * LONG],
    ["slot", "add", "--bank", "1", "--slot", "2", "--iccid", "8" * LONG, "--msisdn", "+79161234568", "--kind",
     "shared"],
    ["slot", "add", "--bank", "1", "--slot", "2", "--iccid", iccid(2), "--msisdn", "+7" * LONG, "--kind", "shared"],
    ["slot", "add", "--bank", "1", "--slot", "2", "--iccid", iccid(2), "--msisdn", "+79161234568", "--kind",
     "k" * LONG],
    ["slot", "add", "--bank", "1", "--slot", "2", "--iccid", iccid(2), "--msisdn", "+79161234568", "--kind",
     "shared", "--imsi", "1" * LONG],
    ["slot", "add", "--bank", "1", "--slot", "2", "--iccid", iccid(2), "--msisdn", "+79161234568", "--kind",
     "virtual", "--owner", "o" * LONG],
    ["slot", "add", "--bank", "1", "--slot", "2", "--iccid", iccid(2), "--msisdn", "+79161234568", "--kind",
     "shared", "--port", "p" * LONG],
    ["slot", "assign", NUMBER, "--owner", "o" * LONG],
    ["whitelist", "remove", NUMBER, "w" * LONG],
    ["whitelist", "list", "1" * LONG],
    ["sent", "record", "--from", "Bank", "--to", "1" * LONG, "--owner", "acme"],
    ["sent", "record", "--from", "Bank", "--to", "+79035550001", "--owner", "o" * LONG],
    ["sent", "record", "--from", "Bank", "--to", "+79035550001", "--owner", "acme", "--at", "t" * LONG],
    ["inbox", "--since", "t" * LONG],
    ["inbox", "--owner", "o" * LONG],
    ["owner", "forward", "acme", "--email", "e" * LONG],
    ["owner", "forward", "acme", "--http-url", "ftp://" + "h" * LONG],
    ["owner", "forward", "acme", "--msisdn", "1" * LONG],
    ["--region", "R" * LONG, "slot", "show", "9161234567"],
    ["--topic-prefix", "t/#" * (LONG // 3), "mqtt", "acl", "--out", "mqtt"],
    ["--mqtt", "ftp://" + "m" * LONG, "run", "--only", "router"],
])
def test_errors_quote_long_inputs_as_a_short_prefix(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    longest = max(command, key=len)
    line = fails("--db", db, *command)
    assert_short_and_names(line, longest)


@pytest.mark.parametrize("command", [
    ["owner", "add", "a" * 100_000],
    ["owner", "add", "acme2", "--name", "N" * 100_000],
    ["x" * 100_000],
    ["port", "add", "p1", "--url", "/dev/ttyUSB0", "--driver", "d" * 100_000],
])
def test_a_100_kb_argument_is_refused_before_anything_else(db: str, command: list[str]) -> None:
    line = fails("--db", db, *command)
    assert_short_and_names(line, max(command, key=len), f"at most {inputs.ARGUMENT_MAX}", "100000")


@pytest.mark.parametrize("command", [
    ["x" * LONG],
    ["port", "add", "p1", "--url", "/dev/ttyUSB0", "--driver", "d" * LONG],
    ["run", "--only", "o" * LONG],
    ["--" + "o" * LONG],
    ["owner", "list", "--" + "o" * LONG],
])
def test_clicks_own_usage_errors_quote_a_long_argument_short(db: str, command: list[str]) -> None:
    result = invoke("--db", db, *command)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert max(command, key=len)[2:] not in result.output
    assert "…" in result.stderr, result.stderr
    assert len(result.stderr) < 500, result.stderr


def test_help_names_the_limits() -> None:
    assert f"at most {inputs.CUSTOMER_NAME_MAX} characters" in ok("owner", "add", "--help").output
    port_help = " ".join(ok("port", "add", "--help").output.split())
    assert f"at most {inputs.PORT_NAME_MAX} characters" in port_help
    assert f"at most {inputs.PORT_URL_MAX} characters" in port_help
    forward_help = " ".join(ok("owner", "forward", "--help").output.split())
    assert f"at most {inputs.HTTP_URL_MAX} characters" in forward_help
    assert f"at most {inputs.EMAILS_MAX} characters" in forward_help
    assert f"at most {inputs.SENDER_NAME_MAX}" in " ".join(ok("whitelist", "add", "--help").output.split())
    assert invoke("--help").exit_code == 0

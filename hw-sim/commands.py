"""AT command lines: splitting a line into commands, their parameters, and the errors handlers raise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from hwsim.pduinfo import PduError, tpdu_octets


class AtError(Exception):
    """A command failed; `final` builds the result code from the modem's settings."""


class PlainError(AtError):
    """ERROR."""


class CmeError(AtError):
    def __init__(self, code: int) -> None:
        super().__init__(f"+CME ERROR: {code}")
        self.code = code


class CmsError(AtError):
    def __init__(self, code: int) -> None:
        super().__init__(f"+CMS ERROR: {code}")
        self.code = code


class FinalError(AtError):
    """A vendor's own final text (Huawei COMMAND NOT SUPPORT)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class Cmd:
    """One command of a command line: name ("+CMGL", "E", "&F", "^ICCID"), kind, argument text, as sent."""

    name: str
    kind: str  # "exec" | "set" | "read" | "test"
    arg: str
    text: str

    def params(self) -> list[str]:
        """The comma-separated arguments, quotes removed; an omitted one is ""."""
        out: list[str] = []
        cur: list[str] = []
        quoted = False
        for ch in self.arg:
            if ch == '"':
                quoted = not quoted
            elif ch == "," and not quoted:
                out.append("".join(cur).strip())
                cur = []
            else:
                cur.append(ch)
        if quoted:
            raise PlainError("unbalanced quotes")
        out.append("".join(cur).strip())
        return out

    def int_param(self, i: int, lo: int, hi: int, default: int | None = None) -> int:
        ps = self.params()
        raw = ps[i] if i < len(ps) else ""
        if raw == "":
            if default is None:
                raise PlainError(f"{self.name}: parameter {i + 1} missing")
            return default
        try:
            value = int(raw)
        except ValueError:
            raise PlainError(f"{self.name}: {raw!r} is not a number") from None
        if not lo <= value <= hi:
            raise PlainError(f"{self.name}: {value} outside {lo}-{hi}")
        return value


@dataclass
class Prompt:
    """A command waiting for text after "> ", ended by Ctrl-Z (submit) or ESC (cancel)."""

    submit: Callable[[str], list[str]]
    command: str


def split_command_line(body: str) -> list[Cmd]:
    """The commands of one line after its "AT": basic (E0, &F, H, Sn=v, D...) and extended (+X, ^X, $X) ones."""
    cmds: list[Cmd] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in " ;":
            i += 1
            continue
        if c in "+^$*%#":
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] in "_.-!/"):
                j += 1
            name = body[i:j].upper()
            k, quoted = j, False
            while k < n and (quoted or body[k] != ";"):
                if body[k] == '"':
                    quoted = not quoted
                k += 1
            cmds.append(_make_cmd(name, body[j:k].strip(), body[i:k].strip()))
            i = k + 1
            continue
        if c.upper() == "D":
            cmds.append(Cmd("D", "set", body[i + 1:].strip(), body[i:].strip()))
            break
        if c.upper() == "S" and i + 1 < n and body[i + 1].isdigit():
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            k = j
            while k < n and body[k] not in ";" and not (body[k].isalpha() and k > j + 1):
                k += 1
            cmds.append(_make_cmd("S" + body[i + 1:j], body[j:k], body[i:k]))
            i = k
            continue
        if c == "&" and i + 1 < n:
            name = "&" + body[i + 1].upper()
            j = i + 2
        elif c.isalpha():
            name = c.upper()
            j = i + 1
        else:
            raise PlainError(f"unexpected character {c!r}")
        k = j
        while k < n and body[k].isdigit():
            k += 1
        if k < n and body[k] == "?":
            cmds.append(Cmd(name, "read", "", body[i:k + 1]))
            i = k + 1
            continue
        cmds.append(Cmd(name, "set" if k > j else "exec", body[j:k], body[i:k]))
        i = k
    return cmds


def _make_cmd(name: str, tail: str, text: str) -> Cmd:
    if tail == "":
        return Cmd(name, "exec", "", text)
    if tail == "?":
        return Cmd(name, "read", "", text)
    if tail.replace(" ", "") == "=?":
        return Cmd(name, "test", "", text)
    if tail.startswith("="):
        return Cmd(name, "set", tail[1:].strip(), text)
    raise PlainError(f"cannot parse {text!r}")


Handler = TypeVar("Handler", bound=Callable[..., "list[str] | Prompt"])
HANDLES_ATTR = "_hwsim_handles"


def handles(*names: str) -> Callable[[Handler], Handler]:
    """Mark a modem method as the handler of commands `names` ("+CMGL", "E", "&F", "^ICCID"; "" for a bare AT).

    The modem class gathers the marks of its own methods and its bases' into its dispatch table; a subclass
    takes a command over by marking a method of its own with the same name.
    """
    def mark(fn: Handler) -> Handler:
        setattr(fn, HANDLES_ATTR, (*getattr(fn, HANDLES_ATTR, ()), *names))
        return fn
    return mark


def handled_names(value: object) -> tuple[str, ...]:
    """The command names `value` (a class attribute) was marked with by `handles`; () for anything else."""
    names: tuple[str, ...] = getattr(value, HANDLES_ATTR, ())
    return names


def prompt_pdu(body: str, length: int) -> str:
    """The PDU typed at the `> ` prompt of AT+CMGS/AT+CMGW, upper case, once its <length> is checked: TS 27.005
    §3.5.1 counts the TPDU's octets, the SMSC address field left out; +CMS ERROR: 304 otherwise."""
    pdu = "".join(body.split()).upper()
    try:
        octets = tpdu_octets(pdu)
    except PduError:
        raise CmsError(304) from None
    if octets != length:
        raise CmsError(304)
    return pdu

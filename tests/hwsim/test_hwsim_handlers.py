"""Handler registration: @handles marks gathered per class, profiles adding and taking over commands."""

from __future__ import annotations

from hwsim.commands import Cmd, handles
from hwsim.modem import VirtualModem
from hwsim.profiles import PROFILES, E173Modem, Ec25Modem, GenericModem


class _Extended(GenericModem):
    @handles("+XTEST")
    def _xtest(self, cmd: Cmd) -> list[str]:
        return ["+XTEST: 1"]

    @handles("+CSQ")
    def _my_csq(self, cmd: Cmd) -> list[str]:
        return ["+CSQ: 31,99"]


def test_every_handler_names_a_method() -> None:
    for cls in (VirtualModem, *PROFILES.values()):
        for command, method in cls.HANDLERS.items():
            assert callable(getattr(cls, method)), (cls.__name__, command, method)


def test_a_subclass_adds_and_takes_over_commands_without_touching_its_base() -> None:
    assert _Extended.HANDLERS["+XTEST"] == "_xtest"
    assert _Extended.HANDLERS["+CSQ"] == "_my_csq"
    assert "+XTEST" not in GenericModem.HANDLERS
    assert GenericModem.HANDLERS["+CSQ"] == "_csq"


def test_profiles_keep_the_base_commands_and_add_their_own() -> None:
    base = set(VirtualModem.HANDLERS)
    for cls in PROFILES.values():
        assert base <= set(cls.HANDLERS)
    assert Ec25Modem.HANDLERS["+QCCID"] == "_qccid"
    assert "+QCCID" not in E173Modem.HANDLERS
    assert E173Modem.HANDLERS["^ICCID"] == "_hw_iccid"

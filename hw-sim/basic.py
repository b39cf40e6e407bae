"""Basic commands: V.250 ones, the modem's and SIM's identity, and the settings other rooms read."""

from __future__ import annotations

from hwsim.commands import Cmd, CmeError, PlainError, handles
from hwsim.core import ModemCore, address_type


class BasicRoom(ModemCore):
    """ATZ, ATI, +CGMI and kin, +CPIN, +CIMI, ICCID, +CNUM, +CMEE, +CSCS, +CMGF, +CSDH, +CMMS, +CSMS, +CSCA."""

    # ---- V.250 basics --------------------------------------------------------------------------------------

    @handles("&W", "&C", "&D", "&K", "X", "L", "M")
    def _ok(self, cmd: Cmd) -> list[str]:
        return []

    @handles("+CSCB")
    def _ok_any(self, cmd: Cmd) -> list[str]:
        return []

    @handles("Z", "&F")
    def _atz(self, cmd: Cmd) -> list[str]:
        self._settings = self._default_settings()
        return []

    @handles("I")
    def _ati(self, cmd: Cmd) -> list[str]:
        return [line.replace("{imei}", self.imei) for line in self.DIALECT.ati_lines]

    # ---- identity ------------------------------------------------------------------------------------------

    @handles("+CGMI", "+GMI")
    def _cgmi(self, cmd: Cmd) -> list[str]:
        return [] if cmd.kind == "test" else [self.DIALECT.manufacturer]

    @handles("+CGMM", "+GMM")
    def _cgmm(self, cmd: Cmd) -> list[str]:
        return [] if cmd.kind == "test" else [self.DIALECT.model]

    @handles("+CGMR", "+GMR")
    def _cgmr(self, cmd: Cmd) -> list[str]:
        return [] if cmd.kind == "test" else [self.DIALECT.revision]

    @handles("+CGSN", "+GSN")
    def _cgsn(self, cmd: Cmd) -> list[str]:
        return [] if cmd.kind == "test" else [self.imei]

    @handles("+GCAP")
    def _gcap(self, cmd: Cmd) -> list[str]:
        return ["+GCAP: +CGSM"]

    @handles("+CPIN")
    def _cpin(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        if not self._sim_present:
            if self.DIALECT.cpin_absent_line is not None and cmd.kind == "read":
                return [self.DIALECT.cpin_absent_line]
            raise CmeError(10)
        if cmd.kind == "read":
            return ["+CPIN: READY"]
        raise CmeError(3)  # no PIN is asked for

    @handles("+CIMI")
    def _cimi(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        return [self._need_sim().identity.imsi]

    @handles("+CCID")
    def _ccid(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        return [f"+CCID: {self._need_sim().identity.iccid}"]

    @handles("+CRSM")
    def _crsm(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        sim = self._need_sim()
        ps = cmd.params()
        if cmd.kind == "set" and ps[:2] == ["176", "12258"]:
            digits = sim.identity.iccid.ljust(20, "F")
            swapped = "".join(digits[i + 1] + digits[i] for i in range(0, 20, 2))
            return [f'+CRSM: 144,0,"{swapped}"']
        return ["+CRSM: 106,130"]  # 6A82: file not found

    @handles("+CNUM")
    def _cnum(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        msisdn = self._need_sim().identity.msisdn
        return [f'+CNUM: "","{msisdn}",{address_type(msisdn)}']

    # ---- settings ------------------------------------------------------------------------------------------

    @handles("+CMEE")
    def _cmee(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.cmee = self._flag(cmd, s.cmee, 2, "+CMEE")
        return lines

    @handles("+CSCS")
    def _cscs(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "read":
            return [f'+CSCS: "{s.cscs}"']
        if cmd.kind == "test":
            return ["+CSCS: (" + ",".join(f'"{x}"' for x in self.DIALECT.cscs_options) + ")"]
        if cmd.kind == "exec":
            return []
        value = cmd.params()[0].upper()
        if value not in self.DIALECT.cscs_options:
            raise CmeError(4)
        s.cscs = value
        return []

    @handles("+CMGF")
    def _cmgf(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.cmgf = self._flag(cmd, s.cmgf, 1, "+CMGF", "(0,1)")
        return lines

    @handles("+CSDH")
    def _csdh(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.csdh = self._flag(cmd, s.csdh, 1, "+CSDH", "(0,1)")
        return lines

    @handles("+CMMS")
    def _cmms(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.cmms = self._flag(cmd, s.cmms, 2, "+CMMS")
        return lines

    @handles("+CSMS")
    def _csms(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "read":
            return [f"+CSMS: {s.csms},1,1,1"]
        if cmd.kind == "test":
            return ["+CSMS: (0,1)"]
        if cmd.kind == "exec":
            raise PlainError(cmd.text)
        s.csms = cmd.int_param(0, 0, 1)
        return ["+CSMS: 1,1,1"]

    @handles("+CSCA")
    def _csca(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "read":
            smsc = "+79168999100"
            return [f'+CSCA: "{smsc}",145']
        return []

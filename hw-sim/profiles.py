"""Modem profiles: each family's dialect as declared data plus narrow overrides of the base modem."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from hwsim.commands import Cmd, CmsError, PlainError, handles
from hwsim.dialect import Dialect
from hwsim.modem import Settings, VirtualModem


class GenericModem(VirtualModem):
    """A plain 3GPP TS 27.005 / TS 27.007 modem.

    - Echo on after power-up and ATZ (ITU-T V.250 §6.2.4 default E1), V1 verbose results.
    - SIM state only through AT+CPIN?; no SIM gives `+CME ERROR: 10` (TS 27.007 §9.2.1 "SIM not inserted").
    - No vendor ICCID command beyond the widespread `AT+CCID` (answer `+CCID: <iccid>`, as u-blox/Arduino
      MKR modules give it: github.com/arduino-libraries/MKRNB/pull/5); EF_ICCID also via AT+CRSM=176,12258,...
      (TS 27.007 §8.18, TS 31.102 §4.2.2 with swapped nibbles).
    - `+CLIP: "<number>",<type>,,,,<CLI validity>` (TS 27.007 §7.6); withheld: `+CLIP: "",128,,,,1`.
    - +CMT direct delivery with AT+CSMS=1 waits for AT+CNMA; without it in time the TA sets <mt>/<ds> to 0
      and the network resends (TS 27.005 §3.4.1, §3.4.4).
    - Message memories "SM" (the SIM, 20 records) and "ME" (the modem, 25 records, as Siemens TC35i's ME
      storage); AT+CPMS starts "SM","SM","SM" after power-on and ATZ (TS 27.005 leaves the default to the maker).
    - AT+CUSD=1,"*100#",15 takes the code as text; the answer comes as `+CUSD: <m>,"<str>",<dcs>` a moment after
      OK, 7-bit text converted to the TE character set (dcs 15), UCS2 as hex of its octets (dcs 72, 27.007 §7.15),
      as the SIM800 and the EC25 also give it. One session at a time: a request while one is open gets
      `+CME ERROR: 3` until AT+CUSD=2 ends it.
    """

    DIALECT: ClassVar[Dialect] = Dialect(
        name="generic",
        manufacturer="hwsim",
        model="Generic 27.007 modem",
        revision="hwsim-1.0",
        tac="35693803",
        ati_lines=("hwsim", "Generic 27.007 modem", "Revision: hwsim-1.0"),
        me_capacity=25,
        cpms_memories=("SM", "ME"),
    )


class Sim800Modem(VirtualModem):
    """SIMCom SIM800 (2G module).

    Sources: SIM800 Series AT Command Manual V1.09 (2015-08-03), §19.3 "Summary of Unsolicited Result Codes"
    (pages 350-352), unless noted.
    - Boot banner `RDY` (fixed baud rate), `+CFUN: 1`, `+CPIN: READY`, `Call Ready` (phonebook ready),
      `SMS Ready` (§19.3).
    - SIM leaving: `+CPIN: NOT READY`; returning: `+CPIN: READY`, `Call Ready`, `SMS Ready` (§19.3 lists
      `+CPIN: NOT READY` / `+CPIN: NOT INSERTED` as URCs).
    - AT+CPIN? with no SIM: `+CME ERROR: 10` (`SIM not inserted` under AT+CMEE=2, bare `ERROR` under
      AT+CMEE=0; observed on a SIM800C in github.com/Xinyuan-LilyGO/LilyGo-T-Call-SIM800/issues/33).
    - `+CMTI: <mem3>,<index>,"MMS PUSH"`: the third field flags an MMS notification (WAP push) (§19.3 p.350).
    - ICCID: `AT+CCID` answers the bare number, no prefix (manual §6 AT+CCID).
    - `AT+CMGR` on an empty index answers a bare `OK`.
    - `+CLIP: "<number>",<type>,"",0,"",<validity>`; RING and +CLIP arrive as two separate reads, as
      python-gsmmodem users saw at higher baud rates (github.com/faucamp/python-gsmmodem/issues/64).
    - Extra commands: AT+CIURC, AT+CSMINS, AT+CMGDA (delete all), AT+CLTS.
    """

    DIALECT: ClassVar[Dialect] = Dialect(
        name="sim800",
        manufacturer="SIMCOM_Ltd",
        model="SIMCOM_SIM800L",
        revision="Revision:1418B04SIM800L24",
        tac="86769402",
        ati_lines=("SIM800 R14.18",),
        boot_lines=("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"),
        sim_removed_lines=("+CPIN: NOT READY",),
        sim_inserted_lines=("+CPIN: READY", "Call Ready", "SMS Ready"),
        cms_needs_cmee=True,
        cmgr_empty_ok=True,
        clip_style="long",
        split_ring_clip=True,
        cmti_mms_push=True,
        me_capacity=50,
        cpms_memories=("SM", "ME"),
        cnmi_test="(0-3),(0-3),(0,2),(0,1),(0,1)",
    )

    def cmti_line(self, mem: str, index: int, wap_push: bool) -> str:
        return f'+CMTI: "{mem}",{index},"MMS PUSH"' if wap_push else f'+CMTI: "{mem}",{index}'

    @handles("+CIURC", "+CLTS")
    def _sim800_accepted(self, cmd: Cmd) -> list[str]:
        return []

    @handles("+CCID")
    def _sim800_ccid(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        return [self._need_sim().identity.iccid]

    @handles("+CSMINS")
    def _csmins(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "read":
            return [f"+CSMINS: 0,{1 if self._sim_present else 0}"]
        if cmd.kind == "test":
            return ["+CSMINS: (0,1)"]
        return []

    @handles("+CMGDA")
    def _cmgda(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ['+CMGDA: ("DEL READ","DEL UNREAD","DEL SENT","DEL UNSENT","DEL INBOX","DEL ALL")']
        if cmd.kind != "set":
            raise PlainError(cmd.text)
        mem = self._read_memory()
        which = cmd.params()[0].upper()
        stats = {"6": {0, 1, 2, 3}, "DEL ALL": {0, 1, 2, 3}, "DEL READ": {1}, "DEL UNREAD": {0},
                 "DEL SENT": {3}, "DEL UNSENT": {2}, "DEL INBOX": {0, 1}}.get(which)
        if stats is None:
            raise CmsError(302)
        for i in [i for i, m in mem.slots.items() if m.stat in stats]:
            del mem.slots[i]
        self._later(0.0, lambda: self._drain_network(self._sims[self._active]))
        return []


class Ec25Modem(VirtualModem):
    """Quectel EC25 (LTE module).

    Sources: Quectel EC25&EC21 AT Commands Manual V1.3 (2018-09-20), unless noted.
    - Boot: `RDY`, `+CFUN: 1`, `+CPIN: READY`, `+QUSIM: 1`, `+QIND: SMS DONE`, `+QIND: PB DONE`.
    - ICCID: `AT+QCCID` answers `+QCCID: <iccid>` (a 19-digit ICCID gets a trailing F nibble, seen in
      github.com/commaai/openpilot/pull/38021; ours have 20 digits).
    - SIM leaving `+CPIN: NOT READY`; returning `+CPIN: READY`, `+QUSIM: 1`, `+QIND: SMS DONE`; AT+CPIN? with
      no SIM `+CME ERROR: 10`.
    - `+CLIP: "<number>",<type>,"",0,"",<validity>` (manual §7, AT+CLIP example).
    - `AT+QINDCFG="ring",0` turns RING off: `+CLIP` then arrives without RING, as on Quectel EG25 firmware
      driven by MuditaOS (github.com/mudita/MuditaOS/pull/3874 "Without RING URC CLIP comes delayed").
    - AT+CNMA without a pending +CMT: `+CMS ERROR: 340` (manual AT+CNMA example).
    - Character set default "GSM"; message memories "SM", "ME" (255 records) and "MT" (both as one: "SM"
      first, then "ME"), offered in every AT+CPMS=? group. AT+CPMS is "ME","ME","ME" out of the box and kept in
      non-volatile memory: ATZ and restarts leave it (`+CPMS: "ME",n,255,...` on modems fresh from the
      factory, as in the EC200A trace on forums.quectel.com/t/ec200a-eu-sms-regression-fw-a12-a24/38460).
    - Status reports under AT+CNMI <ds>=2 are kept in "SR" (`+CDSI: "SR",<index>`), read after
      AT+CPMS="SR" although AT+CPMS=? does not list it.
    """

    DIALECT: ClassVar[Dialect] = Dialect(
        name="ec25",
        manufacturer="Quectel",
        model="EC25",
        revision="EC25EFAR06A06M4G",
        tac="86710503",
        ati_lines=("Quectel", "EC25", "Revision: EC25EFAR06A06M4G"),
        boot_lines=("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
        sim_removed_lines=("+CPIN: NOT READY",),
        sim_inserted_lines=("+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"),
        clip_style="long",
        me_capacity=255,
        sr_capacity=50,
        status_report_memory="SR",
        cpms_memories=("SM", "ME", "MT"),
        cpms_default=("ME", "ME", "ME"),
        cpms_saved=True,
        cscs_default="GSM",
        access_tech=7,
    )

    @handles("+QURCCFG", "+QCFG", "+QSIMSTAT", "+QSIMDET")
    def _ec25_accepted(self, cmd: Cmd) -> list[str]:
        return []

    @handles("+CEREG")
    def _cereg(self, cmd: Cmd) -> list[str]:
        return self._cgreg(cmd)

    @handles("+QCCID")
    def _qccid(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        return [f"+QCCID: {self._need_sim().identity.iccid}"]

    @handles("+QINDCFG")
    def _qindcfg(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ['+QINDCFG: "all",(0,1),(0,1)', '+QINDCFG: "ring",(0,1),(0,1)']
        if cmd.kind != "set":
            raise PlainError(cmd.text)
        ps = cmd.params()
        what = ps[0].lower()
        if what == "ring":
            if len(ps) == 1 or ps[1] == "":
                return [f'+QINDCFG: "ring",{int(self._settings.ring_urc)}']
            self._settings.ring_urc = cmd.int_param(1, 0, 1) == 1
        return []


class E173Modem(VirtualModem):
    """Huawei E173 (3G USB stick).

    - Unknown commands answer `COMMAND NOT SUPPORT` instead of ERROR (a Huawei E1752 answering gammu's
      AT+CPROT=?: github.com/gammu/gammu/issues/138).
    - Periodic `^RSSI:<n>` and `^BOOT:...` reports, `^MODE:` / `^SRVST:` on registration changes, switched off
      by AT^CURC=0 (the init smslib uses for Huawei: github.com/tdelenikas/smslib/issues/5); no space after
      the colon, as in captured Huawei boot logs (`^SIMST:255`, `^BOOT:40995901,0,0,0,20`, `^SRVST:4`).
    - SIM state reports `^SIMST:<state>`: 1 valid, 255 not present.
    - ICCID: `AT^ICCID?` answers `^ICCID: <iccid>`.
    - New-message indications (+CMTI, +CMT) go to the other (PC UI) port until AT^PORTSEL=1: an E173 with
      firmware 11.126.85.00.209 "receives SMS only during initialization" until `AT^PORTSEL=1`
      (github.com/wdoekes/asterisk-chan-dongle/issues/121). Messages are still stored.
    - AT+CNMI=? answers `+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)` (a Huawei E303 in github.com/gammu/gammu/issues/327).
    - AT+CVHU defaults to 1, so ATH answers OK but leaves a voice call up; AT+CVHU=0 or AT+CHUP ends it
      (Huawei E1550 report, github.com/tdelenikas/smslib/issues/5).
    - Firmware 11.126.85.00.209, the E173 build that takes voice calls
      (github.com/wdoekes/asterisk-chan-dongle/issues/52).
    - AT+CPMS=? offers "ME", "MT", "SM" and "SR" (status reports), the list python-gsmmodem's Huawei K3715
      fake answers (github.com/faucamp/python-gsmmodem, test/fakemodems.py); "SR" is offered for reading only,
      as a SIMCom SIM7600 answers `("ME","MT","SM","SR"),("ME","MT","SM"),("ME","SM")`.
    - AT+CUSD takes the USSD string as GSM 7-bit septets packed into hex (`AT+CUSD=1,"AA180C3602",15` for *100#)
      and gives 7-bit answers the same way (`+CUSD: 0,"C2303BEC1E97...",15`): a plain `*100#` is not hex and is
      refused (hsmr.cc/Projekte/HuaweiE173; github.com/wdoekes/asterisk-chan-dongle/issues/38, where a Huawei sent
      unencoded requests and got "wrong service number"). UCS2 answers are hex of UTF-16 with <dcs> 72.
    """

    DIALECT: ClassVar[Dialect] = Dialect(
        name="e173",
        manufacturer="huawei",
        model="E173",
        revision="11.126.85.00.209",
        tac="35472403",
        ati_lines=("Manufacturer: huawei", "Model: E173", "Revision: 11.126.85.00.209", "IMEI: {imei}",
                   "+GCAP: +CGSM,+DS,+ES"),
        boot_lines=("^BOOT:20952548,0,0,0,72", "^SIMST:1", "^SRVST:2", "^MODE:5,4"),
        sim_removed_lines=("^SIMST:255", "^SRVST:0"),
        sim_inserted_lines=("^SIMST:1", "^SRVST:2", "^MODE:5,4"),
        unknown_final="COMMAND NOT SUPPORT",
        cvhu_default=1,
        call_end_lines=("^CEND:1,0,104,16", "NO CARRIER"),
        cnmi_test="(0-2),(0-3),(0,2),(0-2),(0,1)",
        me_capacity=50,
        sr_capacity=50,
        cpms_memories=("ME", "MT", "SM", "SR"),
        access_tech=2,
        ussd_packed=True,
    )

    def _default_settings(self) -> Settings:
        settings = super()._default_settings()
        settings.sms_urcs_here = False
        return settings

    @handles("^PORTSEL")
    def _portsel(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "read":
            return [f"^PORTSEL: {int(self._settings.sms_urcs_here)}"]
        if cmd.kind == "test":
            return ["^PORTSEL: (0-1)"]
        if cmd.kind == "set":
            self._settings.sms_urcs_here = cmd.int_param(0, 0, 1) == 1
        return []

    def noise_lines(self) -> tuple[str, ...]:
        if not self.registered:
            return ("^BOOT:20952548,0,0,0,72",)
        return ("^BOOT:20952548,0,0,0,72", f"^RSSI:{self._signal}")

    @handles("^U2DIAG", "^CVOICE", "^DDSETEX")
    def _e173_accepted(self, cmd: Cmd) -> list[str]:
        return []

    @handles("^ICCID")
    def _hw_iccid(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "read":
            raise PlainError(cmd.text)
        return [f"^ICCID: {self._need_sim().identity.iccid}"]

    @handles("^CURC")
    def _curc(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "read":
            return [f"^CURC: {int(self._settings.periodic_reports)}"]
        if cmd.kind == "test":
            return ["^CURC: (0-1)"]
        if cmd.kind == "set":
            self._settings.periodic_reports = cmd.int_param(0, 0, 1) == 1
        return []

    @handles("^SYSINFO")
    def _sysinfo(self, cmd: Cmd) -> list[str]:
        if self._sim_present and self.registered:
            return ["^SYSINFO:2,3,0,5,1,,4"]
        return ["^SYSINFO:0,0,0,0,255,,0"]


PROFILES: Mapping[str, type[VirtualModem]] = MappingProxyType({
    "generic": GenericModem,
    "sim800": Sim800Modem,
    "ec25": Ec25Modem,
    "e173": E173Modem,
})


def profile_class(name: str) -> type[VirtualModem]:
    """The modem class of profile `name`; ValueError naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})") from None

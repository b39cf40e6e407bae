"""What a modem family declares about itself (identity, banners, SIM reports, call quirks) and the bank's timings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """How long things take; tests shorten them."""

    ring_interval_s: float = 2.0
    sim_swap_s: float = 0.5
    reboot_s: float = 1.0
    # from a USB reset or power cycle to the device being back on the bus (a new tty)
    reenumerate_s: float = 0.5
    boot_line_gap_s: float = 0.05
    cnma_timeout_s: float = 10.0
    # gap between the RING write and the +CLIP write when a profile splits them across reads
    split_gap_s: float = 0.03
    ussd_reply_s: float = 0.3
    # a periodic vendor report (Huawei ^RSSI); 0 disables it
    noise_interval_s: float = 10.0
    # from a send asking for a status report (TP-SRR) to the network's SMS-STATUS-REPORT
    report_delay_s: float = 1.0
    # how long the network holds an SMS for a SIM that cannot take it (out of its slot, storage full) before
    # dropping it: the SMSC's validity period
    sms_validity_s: float = 86_400.0


@dataclass(frozen=True)
class Dialect:
    """A modem family's declared behaviour; the base modem reads it, profiles override narrow methods."""

    name: str
    manufacturer: str
    model: str
    revision: str
    tac: str  # IMEI type allocation code (8 digits)
    ati_lines: tuple[str, ...]
    # unsolicited lines after power-on, a reboot or replug
    boot_lines: tuple[str, ...] = ()
    # unsolicited lines when the SIM leaves / comes back (slot switch)
    sim_removed_lines: tuple[str, ...] = ()
    sim_inserted_lines: tuple[str, ...] = ()
    # AT+CPIN? while no SIM is in: an information line, or None for +CME ERROR: 10
    cpin_absent_line: str | None = None
    # the final result for an unknown command
    unknown_final: str = "ERROR"
    # +CMS errors are plain ERROR while AT+CMEE=0
    cms_needs_cmee: bool = False
    # AT+CMGR on an empty index: True answers a bare OK, False +CMS ERROR: 321
    cmgr_empty_ok: bool = False
    # AT+CLIP unsolicited line: "short" = "num",type,,,,validity; "long" = "num",type,"",0,"",validity
    clip_style: str = "short"
    # every ring emits +CLIP alone, without RING / +CRING
    clip_without_ring: bool = False
    # RING and +CLIP written in two chunks, so a reader gets them in separate reads
    split_ring_clip: bool = False
    # what the modem says when the caller gives up
    call_end_lines: tuple[str, ...] = ("NO CARRIER",)
    # +CMTI gets a third field "MMS PUSH" for WAP-push (MMS notification) messages
    cmti_mms_push: bool = False
    # AT+CVHU default: 1 makes ATH answer OK without hanging up a voice call
    cvhu_default: int = 0
    # the modem's own message memory ("ME"); 0 = the modem offers only the SIM
    me_capacity: int = 0
    # the status-report memory ("SR"); 0 = none
    sr_capacity: int = 0
    # where AT+CNMI <ds>=2 stores status reports: a memory's name, or None for the receive memory <mem3>
    status_report_memory: str | None = None
    # the memories AT+CPMS=? offers, in its order ("MT" = "SM" and "ME" as one; "SR" only for reading)
    cpms_memories: tuple[str, ...] = ("SM",)
    # <mem1>,<mem2>,<mem3> after power-on
    cpms_default: tuple[str, str, str] = ("SM", "SM", "SM")
    # the modem keeps its AT+CPMS choice in non-volatile memory: ATZ and restarts do not reset it
    cpms_saved: bool = False
    cscs_default: str = "IRA"
    cscs_options: tuple[str, ...] = ("GSM", "IRA", "UCS2")
    cnmi_test: str = "(0-3),(0-3),(0,2),(0-2),(0,1)"
    # +COPS <AcT>: 0 GSM, 2 UTRAN, 7 E-UTRAN
    access_tech: int = 0
    # the operator as AT+COPS? names it
    operator: str = "MTS RUS"
    # AT+CUSD takes and gives GSM 7-bit strings as packed septets in hex, as Huawei firmware does
    ussd_packed: bool = False
    # commands that restart the modem; the only ones a modem wedged until reset still answers
    reset_commands: tuple[str, ...] = ("AT+CFUN=1,1",)

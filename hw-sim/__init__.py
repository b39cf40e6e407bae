"""hwsim: a virtual SIM bank of GSM modems speaking AT over pseudo-terminals."""

from hwsim.bank import Bank
from hwsim.dialect import Timing
from hwsim.modem import VirtualModem

__all__ = ["Bank", "Timing", "VirtualModem"]

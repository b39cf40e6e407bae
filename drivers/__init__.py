"""Modem drivers for simhost: the AT channel, SMS PDU codec and per-vendor dialects."""

"""Our decoder reads what hwsim's own SMS-DELIVER encoder (written separately from the specs) writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.sms import encode_deliver
from simhost_drivers.pdu import decode_pdu, join_text

SENDERS = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
    st.from_regex(r"[0-9]{3,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z][A-Za-z0-9 .-]{0,10}", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(sender=SENDERS, text=st.text(max_size=400), concat_bits=st.sampled_from([8, 16]),
       reference=st.integers(0, 255), message_class=st.one_of(st.none(), st.integers(0, 3)))
def test_hwsim_deliveries_decode(sender: str, text: str, concat_bits: int, reference: int,
                                 message_class: int | None) -> None:
    pdus = encode_deliver(sender, text, concat_bits=concat_bits, reference=reference,
                          message_class=message_class)
    decoded = [decode_pdu(p) for p in pdus]
    assert (join_text(decoded) or "") == text
    for seq, d in enumerate(decoded, start=1):
        assert (d.type, d.truncated) == ("SMS-DELIVER", False)
        assert d.address.number == sender
        assert d.dcs is not None
        assert d.dcs.message_class == message_class
        if len(pdus) > 1:
            assert d.concat is not None
            assert (d.concat.seq, d.concat.total, d.concat.ref_bits) == (seq, len(pdus), concat_bits)
        else:
            assert d.concat is None

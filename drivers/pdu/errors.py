"""The one exception the PDU codec raises: malformed PDUs and messages it cannot encode."""

from __future__ import annotations


class PduError(ValueError):
    """A PDU that cannot be decoded (or a message that cannot be encoded), with a one-line reason.

    `field` names the TP element (e.g. `TP-OA`) and `offset` the octet offset from the start of
    the PDU (SMSC field included) where the problem was found, when they apply.
    """

    def __init__(
        self, message: str, *, field: str | None = None, offset: int | None = None
    ) -> None:
        if field is not None and offset is not None:
            text = f"{field} at offset {offset}: {message}"
        elif field is not None:
            text = f"{field}: {message}"
        else:
            text = message
        super().__init__(text)
        self.field = field
        self.offset = offset

"""Delivery receipts (SMPP 3.4 appendix B): the TLVs when present, the text form otherwise."""

from __future__ import annotations

import re

from services.notify.sms.transport import DeliveryReceipt

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
_FIELD = re.compile(r"(id|stat|err):(\S*)", re.IGNORECASE)
FINAL_OK = {"DELIVRD"}
FINAL_FAILED = {"EXPIRED", "DELETED", "UNDELIV", "REJECTD", "UNKNOWN"}
# message_state TLV values (SMPP 3.4 §5.2.28)
_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


def receipt_text(message_id: str, stat: str, err: str = "000", stamp: str = "0000000000") -> str:
    """The conventional text body of a receipt (what SMSCs and our sink send)."""
    dlvrd = "001" if stat == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{stamp} done date:{stamp} "
        f"stat:{stat} err:{err} text:"
    )


def parse_receipt(text: str, tlvs: dict[int, bytes] | None = None) -> DeliveryReceipt | None:
    """A receipt from a deliver_sm with the receipt bit set; None if it names no message."""
    tlvs = tlvs or {}
    fields = {k.lower(): v for k, v in _FIELD.findall(text)}
    message_id = fields.get("id")
    if TLV_RECEIPTED_MESSAGE_ID in tlvs:
        message_id = tlvs[TLV_RECEIPTED_MESSAGE_ID].rstrip(b"\x00").decode("ascii", "replace")
    stat = fields.get("stat", "").upper()
    if tlvs.get(TLV_MESSAGE_STATE):
        stat = _STATES.get(tlvs[TLV_MESSAGE_STATE][0], stat or "UNKNOWN")
    if not message_id:
        return None
    delivered = True if stat in FINAL_OK else False if stat in FINAL_FAILED else None
    err = fields.get("err")
    return DeliveryReceipt(
        provider_message_id=message_id,
        stat=stat or "UNKNOWN",
        delivered=delivered,
        error=None if delivered or not err or err == "000" else f"err:{err}",
    )

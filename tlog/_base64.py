"""The one base64 form the C2SP formats use: standard alphabet, padded, canonical."""

from __future__ import annotations

import base64
import binascii


def decode_canonical(text: str) -> bytes:
    """Decode standard padded base64, refusing every other spelling of the same bytes.

    b64decode alone accepts unused trailing bits that are not zero; only the canonical form
    round-trips, and accepting one form only keeps a signed text from having look-alikes.
    """
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{text!r} is not standard base64") from error
    if base64.b64encode(value).decode("ascii") != text:
        raise ValueError(f"{text!r} is not canonical base64")
    return value

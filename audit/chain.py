"""The audit chain: each event's MAC is HMAC-SHA256(key, previous MAC +
canonical encoding of the event), so that nobody without the key (which is not
in the database) can alter, delete, insert or reorder events unnoticed.

Pure Python (no Django), so that the rules are easy to read and test.  The
order of events is the order of the chain links, not of any column; an
event's content holds its sequence number (under "sequence"), so that the
number it shows is covered by its MAC and a renumbered event is noticed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64  # the "previous MAC" of the first event


def canonical(content: Mapping[str, Any]) -> bytes:
    """One byte string per event content: JSON with sorted keys, no spaces, UTF-8."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def mac(key: bytes, previous: str, content: Mapping[str, Any]) -> str:
    return hmac.new(key, bytes.fromhex(previous) + canonical(content), hashlib.sha256).hexdigest()


def head_mac(key: bytes, count: int, last: str) -> str:
    """Seal of the chain's head (how many events, and the last MAC): reveals
    events cut off the end of the chain."""
    return hmac.new(
        key, b"securepix audit head" + count.to_bytes(8, "big") + bytes.fromhex(last), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True)
class Link:
    sequence: int
    previous: str
    mac: str
    content: Mapping[str, Any]


@dataclass(frozen=True)
class Problem:
    kind: str  # altered, deleted, inserted, reordered, renumbered, head_missing
    sequence: int | None  # the event where the chain first breaks
    message: str


def verify(key: bytes, links: Sequence[Link], head: tuple[int, str, str] | None) -> Problem | None:
    """The first break in the chain, or None when it is intact.  `links` come
    in stored order (by sequence); `head` is (count, last MAC, head MAC) as
    stored, None when there is no head (nothing was recorded, or it was deleted)."""
    position_of: dict[str, int] = {}
    for index, link in enumerate(links):
        position_of.setdefault(link.mac, index)
    referenced = {link.previous for link in links}
    expected = GENESIS
    for index, link in enumerate(links):
        if position_of[link.mac] != index:
            return Problem("inserted", link.sequence, f"event {link.sequence} is a copy of an earlier event (inserted)")
        if not hmac.compare_digest(mac(key, link.previous, link.content), link.mac):
            renumbered = _renumbered(key, link, index, links, position_of)
            if renumbered is not None:
                return renumbered
            genuine_successor = link.mac in referenced
            if head is not None and head[1] == link.mac and _head_ok(key, head):
                genuine_successor = True
            if genuine_successor:
                return Problem("altered", link.sequence, f"event {link.sequence} was altered after it was recorded")
            return Problem("inserted", link.sequence, f"event {link.sequence} was not recorded by SecurePix (inserted)")
        if link.previous != expected:
            earlier = position_of.get(link.previous)
            if earlier is not None and earlier != index - 1:
                # its predecessor is elsewhere: moved there by a changed sequence number?
                moved = _renumbered(key, links[earlier], earlier, links, position_of)
                if moved is not None:
                    return moved
                return Problem(
                    "reordered", link.sequence, f"event {link.sequence} is out of order (its predecessor is elsewhere)"
                )
            return Problem(
                "deleted", link.sequence, f"the event recorded just before event {link.sequence} has been deleted"
            )
        expected = link.mac
    if head is None:
        if links:
            # every event above verified: they are genuine, and only the head is gone
            message = f"the chain head was deleted: {len(links)} events are on record but the head is gone"
            return Problem("head_missing", None, message)
        return None
    count, last, _ = head
    if not _head_ok(key, head):
        return Problem("altered", None, "the chain head was altered")
    # Events past the head's count were appended after the head was read: their
    # MACs and links were checked above.
    if count > len(links) or links[count - 1].mac != last:
        return Problem("deleted", None, f"{count - len(links)} event(s) at the end of the chain have been deleted")
    return None


def intact(key: bytes, links: Iterable[Link], head: tuple[int, str, str] | None) -> tuple[bool, int]:
    """One streaming pass, in constant memory: (whether the chain is intact,
    how many events were read).  `verify` then names the break, if any."""
    expected, count, at_head = GENESIS, 0, None
    for link in links:
        if link.previous != expected or not hmac.compare_digest(mac(key, link.previous, link.content), link.mac):
            return False, count + 1
        expected, count = link.mac, count + 1
        if head is not None and count == head[0]:
            at_head = link.mac
    if head is None:
        return count == 0, count
    # events appended after the head was read chain on from it, MACs checked above
    return _head_ok(key, head) and at_head == head[1], count


def _renumbered(
    key: bytes, link: Link, index: int, links: Sequence[Link], position_of: Mapping[str, int]
) -> Problem | None:
    """A link whose MAC fails only because its sequence number was changed:
    its MAC verifies with the number of its place in the chain (counted along
    the previous MACs back to the start)."""
    if "sequence" not in link.content:
        return None
    place, previous = 1, link.previous
    while previous != GENESIS:
        earlier = position_of.get(previous)
        if earlier is None or place > len(links):  # a gap, or a loop of forged links
            return None
        place, previous = place + 1, links[earlier].previous
    if place == link.content["sequence"]:
        return None
    if not hmac.compare_digest(mac(key, link.previous, {**link.content, "sequence": place}), link.mac):
        return None
    if place != index + 1:  # the events before it are intact: it should be the next one
        return Problem(
            "reordered", link.sequence, f"event {link.sequence} is out of order: it was recorded as event {place}"
        )
    message = f"event {link.sequence} was recorded as event {place}: its sequence number was changed"
    return Problem("renumbered", link.sequence, message)


def _head_ok(key: bytes, head: tuple[int, str, str]) -> bool:
    count, last, sealed = head
    return hmac.compare_digest(head_mac(key, count, last), sealed)

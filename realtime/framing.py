"""Websocket framing that needs no server: what Troupe writes and parses itself.

``binary_frame`` frames a broadcast once for every reader's socket; ``split_client_frames``
takes the client's update frames off the byte stream before autobahn's parser (the
daphne side is ``realtime.daphne_integration``); ``close_reason_utf8`` fits a close
reason into a close frame.
"""

# A close frame's payload is at most 125 bytes: the 2-byte code, then the reason.
MAX_CLOSE_REASON_BYTES = 123


def close_reason_utf8(reason: str) -> bytes | None:
    """A close reason as a close frame carries it: UTF-8, at most 123 bytes (None if empty)."""
    cut = reason.encode("utf-8")[:MAX_CLOSE_REASON_BYTES]
    # Cutting may split a character; drop the partial one so the frame stays UTF-8.
    return cut.decode("utf-8", "ignore").encode("utf-8") or None


def binary_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked binary websocket frame, as a server sends it."""
    size = len(payload)
    if size < 126:
        return bytes((0x82, size)) + payload
    if size < 65536:
        return b"\x82\x7e" + size.to_bytes(2, "big") + payload
    return b"\x82\x7f" + size.to_bytes(8, "big") + payload


def _unmask(payload: bytes, mask: bytes) -> bytes:
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        size, "little"
    )


def split_client_frames(data: bytes, max_payload: int) -> tuple[list[bytes], int]:
    """The payloads of the complete, final, masked binary frames at the start of ``data``
    (at most ``max_payload`` bytes each, 0 = no limit), and where the first other frame
    or an incomplete one begins.

    Only frames a client sends with every update are taken; anything else (text, control
    and fragmented frames, unmasked ones, reserved bits, non-minimal lengths, oversize) is
    left at the returned offset for autobahn, which answers or rejects it as before.
    """
    payloads: list[bytes] = []
    pos = 0
    end_of_data = len(data)
    while pos + 6 <= end_of_data and data[pos] == 0x82 and data[pos + 1] & 0x80:
        size = data[pos + 1] & 0x7F
        head = pos + 2
        if size == 126:
            size = int.from_bytes(data[head : head + 2], "big")
            head += 2
            if size < 126:
                break
        elif size == 127:
            size = int.from_bytes(data[head : head + 8], "big")
            head += 8
            if size < 65536 or size >= 1 << 63:
                break
        if max_payload and size > max_payload:
            break
        start = head + 4
        stop = start + size
        if stop > end_of_data:
            break
        payloads.append(_unmask(data[start:stop], data[head:start]))
        pos = stop
    return payloads, pos

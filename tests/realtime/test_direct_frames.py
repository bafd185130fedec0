"""The daphne direct-frame path in isolation: framing, holding frames, overflow."""

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from realtime.daphne_integration import DirectSocket
from realtime.framing import binary_frame, split_client_frames
from tests.support.wire import client_frame


def _parse(wire: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_binary_frame_is_one_final_unmasked_binary_frame(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = _parse(binary_frame(payload))
    assert frame.opcode is Opcode.BINARY
    assert frame.fin
    assert frame.data == payload


class _Protocol:
    STATE_OPEN = 3
    state = 3
    transport = None

    def __init__(self) -> None:
        self.closes: list[tuple[int, bytes | None]] = []

    def sendCloseFrame(self, code: int, reasonUtf8: bytes | None) -> None:  # noqa: N802, N803
        self.closes.append((code, reasonUtf8))


def test_frames_before_listen_are_held_and_handed_over_in_order() -> None:
    direct = DirectSocket(_Protocol())
    direct.claim(max_pending_frames=10, max_pending_bytes=100)
    direct.receive(b"one", True)
    direct.receive(b"text", False)
    seen: list[bytes | None] = []
    direct.listen(seen.append)
    direct.receive(b"two", True)
    assert seen == [b"one", None, b"two"]
    assert not direct.overflowed


@pytest.mark.parametrize(("frames", "size"), [(11, 1), (2, 60)])
def test_holding_too_much_before_listen_overflows(frames: int, size: int) -> None:
    direct = DirectSocket(_Protocol())
    direct.claim(max_pending_frames=10, max_pending_bytes=100)
    for _ in range(frames):
        direct.receive(b"x" * size, True)
    assert direct.overflowed


def test_released_sockets_drop_frames() -> None:
    direct = DirectSocket(_Protocol())
    direct.claim(max_pending_frames=10, max_pending_bytes=100)
    seen: list[bytes | None] = []
    direct.listen(seen.append)
    direct.release()
    direct.receive(b"late", True)
    assert seen == []


def test_close_cuts_the_reason_to_whole_characters() -> None:
    protocol = _Protocol()
    DirectSocket(protocol).close(4400, "é" * 100)
    code, reason = protocol.closes[0]
    assert code == 4400
    assert reason is not None and len(reason) <= 123
    assert reason.decode("utf-8") == "é" * 61


def _payload(size: int) -> bytes:
    return bytes((i * 7 + size) % 256 for i in range(size))


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 200_000])
def test_client_binary_frames_are_unmasked(size: int) -> None:
    stream = client_frame(Opcode.BINARY, _payload(size)) + client_frame(Opcode.BINARY, b"next")
    assert split_client_frames(stream, 0) == ([_payload(size), b"next"], len(stream))


def test_an_incomplete_frame_is_left_whole_for_autobahn() -> None:
    first = client_frame(Opcode.BINARY, _payload(300))
    second = client_frame(Opcode.BINARY, _payload(70_000))
    stream = first + second
    for cut in range(len(first) + 1, len(stream), 997):
        assert split_client_frames(stream[:cut], 0) == ([_payload(300)], len(first))
    for cut in range(len(first)):
        assert split_client_frames(stream[:cut], 0) == ([], 0)


def _with_rsv1(frame: bytes) -> bytes:
    return bytes([frame[0] | 0x40]) + frame[1:]


def _nonminimal(payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return b"\x82\xfe" + len(payload).to_bytes(2, "big") + mask + masked


@pytest.mark.parametrize(
    "other",
    [
        client_frame(Opcode.PING, b"are you there"),
        client_frame(Opcode.TEXT, b"text"),
        client_frame(Opcode.CLOSE, b"\x03\xe8"),
        client_frame(Opcode.BINARY, b"first part", fin=False),
        client_frame(Opcode.CONT, b"last part"),
        Frame(Opcode.BINARY, b"unmasked").serialize(mask=False),
        _with_rsv1(client_frame(Opcode.BINARY, b"reserved bit")),
        _nonminimal(b"short"),
        client_frame(Opcode.BINARY, _payload(101)),
    ],
    ids=[
        "ping",
        "text",
        "close",
        "fragment",
        "continuation",
        "unmasked",
        "rsv",
        "nonminimal",
        "oversize",
    ],
)
def test_every_other_frame_stops_the_split_where_it_begins(other: bytes) -> None:
    before = client_frame(Opcode.BINARY, b"update")
    after = client_frame(Opcode.BINARY, b"later")
    stream = before + other + after
    assert split_client_frames(stream, 100) == ([b"update"], len(before))

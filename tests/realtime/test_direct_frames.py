"""The daphne direct-frame path in isolation: framing, holding frames, overflow."""

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from realtime.daphne_compat import DirectSocket, binary_frame


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

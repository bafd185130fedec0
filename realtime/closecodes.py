"""Websocket close codes Troupe uses, with the reason sent alongside (see README)."""

from enum import IntEnum


class CloseCode(IntEnum):
    """Why the server closed a connection. 44xx mirror HTTP statuses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MALFORMED = 1007
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    PROTOCOL_VIOLATION = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    FORGED_CLIENT_ID = 4409
    RATE_LIMITED = 4429
    ROOM_FULL = 4503

"""Websocket close codes Troupe uses, with the reason sent alongside (see README)."""

from enum import IntEnum


class CloseCode(IntEnum):
    """Why the server closed a connection. 44xx mirror HTTP statuses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MALFORMED = 1007
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    # Too many connections waiting to be admitted: retry after a (jittered) delay.
    TRY_AGAIN_LATER = 1013
    PROTOCOL_VIOLATION = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    # The client stopped reading: its unsent backlog passed TROUPE_MAX_SEND_BUFFER_BYTES.
    SLOW_READER = 4408
    FORGED_CLIENT_ID = 4409
    # An awareness state, or the document itself, over its configured size or growth limit.
    TOO_LARGE = 4413
    # An update writing what the storyboard schema does not allow (see README).
    SCHEMA_VIOLATION = 4422
    RATE_LIMITED = 4429
    ROOM_FULL = 4503

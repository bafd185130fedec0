"""Document schemas and state operations over pycrdt, the one place Yjs documents are built.

A script is the ``Y.Text`` named ``content`` holding Fountain text; a storyboard is the
``Y.Map`` named ``board`` of panels (``crdt.storyboard``). Everything here is pure: no I/O,
no Django.
"""

from collections.abc import Iterable, Sequence
from itertools import batched
from typing import Any, Literal

from pycrdt import Doc, Map, Text, get_state, merge_updates
from pycrdt import get_update as diff_updates

from crdt.encoding import MalformedMessage
from crdt.storyboard import BOARD, storyboard_panels
from crdt.updates import decode_state_vector, update_reach

DocumentKind = Literal["script", "storyboard"]
SCRIPT_TEXT = "content"
# No structs, no deletions: an update that changes nothing.
EMPTY_UPDATE = b"\x00\x00"


class InvalidUpdate(MalformedMessage):
    """An update that Yrs could not decode or apply."""


def new_document(kind: DocumentKind) -> Doc[Any]:
    """An empty document with the root type of its kind declared."""
    doc: Doc[Any] = Doc()
    if kind == "script":
        doc.get(SCRIPT_TEXT, type=Text)
    else:
        doc.get(BOARD, type=Map)
    return doc


def apply_update(doc: Doc[Any], update: bytes) -> None:
    """Apply a v1 update, translating every decoding failure into ``InvalidUpdate``."""
    try:
        doc.apply_update(update)
    except (ValueError, RuntimeError) as exc:
        # Yrs reports undecodable input as ValueError and structurally invalid input
        # (e.g. a block whose parent is not a shared type) as RuntimeError.
        raise InvalidUpdate(str(exc)) from exc
    except BaseException as exc:
        # pyo3 turns a Rust panic into PanicException, a BaseException: a hostile update
        # must close one connection, never the server.
        if type(exc).__name__ == "PanicException":
            raise InvalidUpdate(f"update rejected by the CRDT core: {exc}") from exc
        raise


def diff_update(doc: Doc[Any], state_vector: bytes) -> bytes:
    """What ``doc`` holds beyond a peer's state vector (the payload of a step2)."""
    try:
        return bytes(doc.get_update(state_vector))
    except ValueError as exc:
        raise InvalidUpdate(f"invalid state vector: {exc}") from exc


LOAD_MERGE_RUN = 16
LOAD_RUNS_PER_TRANSACTION = 16


def load_document(kind: DocumentKind, state: bytes | None, updates: Iterable[bytes]) -> Doc[Any]:
    """Rebuild a document from its stored state and the log entries that followed it
    (``load_document_checked`` also returns what it could not integrate)."""
    return load_document_checked(kind, state, updates)[0]


def load_document_checked(
    kind: DocumentKind, state: bytes | None, updates: Iterable[bytes]
) -> tuple[Doc[Any], list[bytes]]:
    """Rebuild a document; also return the stored updates it holds only pending.

    Log entries are merged in runs of ``LOAD_MERGE_RUN`` and the merged runs applied
    ``LOAD_RUNS_PER_TRANSACTION`` to a transaction. Yrs merges small updates far faster
    than it integrates them one transaction each, but merging costs more than linearly
    with the run's length. Integrating appended text costs more with both fewer and more
    entries to a transaction: Yrs squashes consecutive inserts into one item and measures
    that item's text at each step, once per transaction from where the last one left it
    and again for each insert. For a log of 100,000 one-character appends these sizes take
    ~0.1 s of CPU (runs of 32, 16 to a transaction: 13% more instructions, ~12% more time;
    runs of 64 in their own transactions: ~0.13 s; one entry per transaction: 1.9 s).

    Entries of several processes reach the log out of causal order, and Yrs (pycrdt
    0.14) loses pending structs when another update with missing dependencies arrives
    while one is pending: two writers' updates applied as 2, 3, 0, 1 leave only 0 and 1
    (in 190 of 300 shuffles of a 24-update log, one at a time). So every applied update
    is then checked against the state vector and what is missing is applied again
    (``settle``), which a merged update does in one go.
    """
    doc = new_document(kind)
    applied: list[bytes] = []
    if state:
        apply_update(doc, state)
        applied.append(state)
    for runs in batched(batched(updates, LOAD_MERGE_RUN), LOAD_RUNS_PER_TRANSACTION):
        applied.extend(_apply_runs(doc, runs))
    return doc, settle(doc, applied)


def settle(doc: Doc[Any], updates: Sequence[bytes]) -> list[bytes]:
    """Apply again, merged into one, the updates ``doc`` does not hold in full, as long as
    that integrates more of them; return those still not integrated (their dependencies
    are missing from ``updates``). A merged update carries its own dependencies, which
    Yrs integrates in order whatever order the parts came in.
    """
    pending = not_integrated(doc, updates)
    while pending:
        apply_update(doc, merge(pending))
        still = not_integrated(doc, pending)
        if len(still) == len(pending):
            return still
        pending = still
    return pending


def _apply_runs(doc: Doc[Any], runs: tuple[tuple[bytes, ...], ...]) -> list[bytes]:
    """Merge each run and apply the merged runs in one transaction; return what was
    applied (the merged runs, or the entries of a run that would not merge)."""
    merged: list[bytes] = []
    applied: list[bytes] = []
    for run in runs:
        try:
            merged.append(merge(run))
        except InvalidUpdate:
            # Applied one by one instead: the same error, from the entry that causes it.
            _apply_all(doc, merged)
            applied.extend(merged)
            merged = []
            for update in run:
                apply_update(doc, update)
            applied.extend(run)
    _apply_all(doc, merged)
    applied.extend(merged)
    return applied


def _apply_all(doc: Doc[Any], updates: list[bytes]) -> None:
    if len(updates) == 1:
        apply_update(doc, updates[0])
    elif updates:
        with doc.transaction():
            for update in updates:
                apply_update(doc, update)


def not_integrated(doc: Doc[Any], updates: Iterable[bytes]) -> list[bytes]:
    """The updates that ``doc`` holds only in part, or not at all, after applying them.

    Yrs keeps a struct (or a deletion) whose dependencies it lacks pending, outside the
    document's state vector, and leaves it out of ``get_update()``: a state encoded from
    such a document silently drops it, and with it everything later that builds on it.
    Whoever encodes a state for storage keeps these updates beside it (see
    ``state_with_pending``). Yrs cuts from each update what lies beyond the state vector
    (~1 µs a merged run of 16 typed characters, a tenth of reading it in Python); only
    the delete set, which that cut always keeps whole, is read here.
    """
    state_vector = doc.get_state()
    reached: dict[int, int] | None = None
    out: list[bytes] = []
    for update in updates:
        try:
            rest = bytes(diff_updates(update, state_vector))
            if rest == EMPTY_UPDATE:
                continue
            if rest[0] == 0:  # no struct beyond the state vector: deletions only
                if reached is None:
                    reached = decode_state_vector(state_vector)
                reach = update_reach(rest)
                if all(clock <= reached.get(client, 0) for client, clock in reach.items()):
                    continue
        except (ValueError, MalformedMessage):
            pass  # Yrs took it but cannot cut it again: kept, never dropped
        out.append(update)
    return out


def state_with_pending(doc: Doc[Any], pending: Sequence[bytes]) -> bytes:
    """The document's state as one update, with the updates it holds only pending.

    Applying the result rebuilds the same document, pending structs included: they
    integrate as soon as their dependencies arrive. Merging is cheap here because the
    pending updates are few (normally none).
    """
    state = bytes(doc.get_update())
    return merge([state, *pending]) if pending else state


def merge(updates: Sequence[bytes]) -> bytes:
    """Merge v1 updates into one (used for compaction and to coalesce bursts)."""
    if len(updates) == 1:
        return updates[0]
    try:
        return bytes(merge_updates(*updates))
    except ValueError as exc:
        raise InvalidUpdate(str(exc)) from exc


def state_vector_of_update(update: bytes) -> bytes:
    """The encoded state vector an update would produce on an empty document."""
    try:
        return bytes(get_state(update))
    except ValueError as exc:
        raise InvalidUpdate(str(exc)) from exc


def script_text(doc: Doc[Any]) -> str:
    """The Fountain text of a script document."""
    return str(doc.get(SCRIPT_TEXT, type=Text))


def content_of(doc: Doc[Any], kind: DocumentKind) -> str | list[dict[str, Any]]:
    """The normalised content: Fountain text for scripts, panel list for storyboards."""
    return script_text(doc) if kind == "script" else storyboard_panels(doc)

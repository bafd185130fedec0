"""Fountain 1.1 screenplay parser, exporter and HTML renderer (pure stdlib).

``parse`` turns Fountain text into a :class:`Script` (title page, a flat list of
:class:`Element` and the :class:`Scene` index), ``to_fountain`` writes a script
back to Fountain text, and ``render_html`` produces a printable HTML fragment in
standard screenplay layout.

Every element and scene carries ``start``/``end`` offsets into the parsed text
measured in UTF-16 code units, the unit Yjs uses for text positions, so that an
edit position coming from a Y.Text can be mapped to the scene it touches
(see :meth:`Script.scene_at`).

Parsing rules worth knowing (where the spec is silent, the choice is noted):

* Boneyard ``/* ... */`` and notes ``[[ ... ]]`` are cut out of the text before
  anything else is classified and become ``boneyard``/``note`` elements placed
  by source position.  An unterminated ``/*`` or ``[[`` is ordinary text (a
  half-typed marker in a live editor must not swallow the rest of the script).
  A note may span lines but not a truly empty line (use two spaces).
* A line left empty by that removal vanishes if it only held notes (notes sit
  "between lines" without breaking a dialogue block) and counts as a blank
  line if it held boneyard, which is what the spec's boneyard example relies
  on.  A line left with two or more spaces is a two-space line (below).
* A line of two or more spaces keeps dialogue or action going; any other
  whitespace-only line is blank.
* Scene headings, transitions and character cues (forced or not) must start a
  paragraph (blank line before, or start of the body).  Page breaks, sections,
  synopses, centered text and lyrics are recognised on any line outside a
  dialogue block.
"""

from __future__ import annotations

import bisect
import html
import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "Element",
    "ElementType",
    "Scene",
    "Script",
    "parse",
    "render_html",
    "to_fountain",
]

ElementType = Literal[
    "scene_heading",
    "action",
    "character",
    "parenthetical",
    "dialogue",
    "transition",
    "centered",
    "lyrics",
    "note",
    "boneyard",
    "section",
    "synopsis",
    "page_break",
]


@dataclass(frozen=True, slots=True)
class Element:
    """One screenplay element.

    ``text`` is the element's content without its Fountain markers (no leading
    ``.``/``!``/``@``/``>``/``~``/``#``/``=``, no ``[[ ]]``/``/* */``); multi-line
    content is joined with ``"\\n"``.  Emphasis markup is left untouched.
    Parentheticals keep their parentheses.  A character's ``text`` is the bare
    name and ``extension`` holds the parenthesised part as written, e.g.
    ``"(V.O.)"`` or ``"(O.S.) (CONT'D)"``.  ``dual`` is True on the ``^``
    character cue and on the elements of its dialogue block.  ``depth`` is the
    number of ``#`` of a section (0 otherwise).  ``start``/``end`` are UTF-16
    offsets of the element's source in the parsed text (end exclusive, line
    breaks excluded).  ``scene_index`` is the index of the enclosing scene, or
    None before the first scene heading.
    """

    type: ElementType
    text: str
    scene_number: str | None = None
    extension: str | None = None
    dual: bool = False
    depth: int = 0
    start: int = 0
    end: int = 0
    scene_index: int | None = None


@dataclass(frozen=True, slots=True)
class Scene:
    """A scene: its heading and the UTF-16 span from its heading up to the next.

    ``end`` is the start of the next scene heading, or the UTF-16 length of the
    parsed text for the last scene.
    """

    index: int
    heading: str
    scene_number: str | None
    start: int
    end: int


@dataclass
class Script:
    """A parsed screenplay.

    ``title_page`` keeps keys as written, in order, with multi-line values
    joined by ``"\\n"``.
    """

    title_page: list[tuple[str, str]] = field(default_factory=list)
    elements: list[Element] = field(default_factory=list)
    scenes: list[Scene] = field(default_factory=list)

    def scene_at(self, offset: int) -> Scene | None:
        """Return the scene containing UTF-16 ``offset``, or None before the first."""
        starts = [scene.start for scene in self.scenes]
        i = bisect.bisect_right(starts, offset) - 1
        return self.scenes[i] if i >= 0 else None


# --------------------------------------------------------------------------
# Line classification helpers (shared by the parser and the exporter, so that
# the exporter can tell when a forcing marker is needed for a round trip).
# --------------------------------------------------------------------------

_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
_HEADING_RE = re.compile(r"(?:INT\.?/EXT|EXT\.?/INT|I\.?/E|E\.?/I|INT|EXT|EST)[.\s]", re.IGNORECASE)
_SCENE_NUMBER_RE = re.compile(r"\s*#([\w.\-]+)#$")
_PAGE_BREAK_RE = re.compile(r"={3,}")
_TITLE_KEY_RE = re.compile(r"([^\W\d_][\w '\-]*?)[ \t]*:(.*)")
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")

_Kind = Literal[
    "scene_heading",
    "action",
    "character",
    "transition",
    "centered",
    "lyrics",
    "section",
    "synopsis",
    "page_break",
]


def _is_spacer(line: str) -> bool:
    """A whitespace-only line with at least two spaces: keeps a block going."""
    return line.count(" ") >= 2 and not line.strip()


def _inline_kind(s: str) -> _Kind | None:
    """Kind of a stripped line that is recognised anywhere outside dialogue."""
    if not s:
        return None
    c = s[0]
    if c == "=":
        return "page_break" if _PAGE_BREAK_RE.fullmatch(s) else "synopsis"
    if c == "#":
        return "section"
    if c == "~":
        return "lyrics"
    if c == ">" and len(s) >= 2 and s.endswith("<"):
        return "centered"
    return None


def _is_heading(s: str) -> bool:
    # Only one leading period forces a heading, so "...and then" stays action.
    if s.startswith("."):
        return len(s) > 1 and s[1].isalnum()
    return _HEADING_RE.match(s) is not None


def _is_caps(s: str) -> bool:
    return s == s.upper() and any(ch.isalpha() for ch in s)


def _character_parts(s: str) -> tuple[str, str | None, bool]:
    """Split a stripped cue line into (name, extension, dual)."""
    if s.startswith("@"):
        s = s[1:]
    dual = s.endswith("^")
    if dual:
        s = s[:-1]
    s = s.strip()
    # Peel parenthesised groups off the end: "HANS (on the radio)".
    rest = s
    cut = len(s)
    while rest.endswith(")"):
        opening = rest.rfind("(")
        if opening < 0 or ")" in rest[opening + 1 : -1]:
            break
        cut = opening
        rest = rest[:opening].rstrip()
    name = s[:cut].rstrip()
    if not name or cut == len(s):
        return s, None, dual
    return name, s[cut:].strip(), dual


def _is_natural_character(s: str) -> bool:
    name, _, _ = _character_parts(s)
    return _is_caps(name) and not name.startswith("(")


def _is_natural_transition(s: str) -> bool:
    return _is_caps(s) and s.endswith("TO:")


def _start_kind(s: str, next_blank: bool) -> _Kind:
    """Kind of stripped line ``s`` when it starts a paragraph.

    ``next_blank`` tells whether the following line is blank (or absent),
    which decides between character cue, transition and action.
    """
    kind = _inline_kind(s)
    if kind is not None:
        return kind
    if s.startswith("!"):
        return "action"
    if _is_heading(s):
        return "scene_heading"
    if s.startswith(">"):
        return "transition" if s[1:].strip() else "action"
    if s.startswith("@"):
        return "character" if _character_parts(s)[0] else "action"
    if next_blank:
        return "transition" if _is_natural_transition(s) else "action"
    return "character" if _is_natural_character(s) else "action"


# --------------------------------------------------------------------------
# Removal of boneyard and notes, with an offset map back to the source.
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    kind: Literal["note", "boneyard"]
    text: str


def _blank_line_end(content: str) -> int | None:
    """End offset of the first truly empty interior line of ``content``, if any."""
    breaks = list(_NEWLINE_RE.finditer(content))
    for before, after in itertools.pairwise(breaks):
        line = content[before.end() : after.start()]
        if not line.strip() and not _is_spacer(line):
            return after.end()
    return None


def _find_spans(text: str) -> list[_Span]:
    """Find boneyard and note spans, leftmost first, in linear time."""
    spans: list[_Span] = []
    pos = 0
    # Next opener positions are cached: re-searching for a marker that is far
    # away (or absent) after every span would make this quadratic.
    b = text.find("/*")
    k = text.find("[[")
    while b >= 0 or k >= 0:
        if b >= 0 and (k < 0 or b < k):
            close = text.find("*/", b + 2)
            if close < 0:
                # No "*/" after this opener means none after any later one.
                b = -1
                continue
            spans.append(_Span(b, close + 2, "boneyard", text[b + 2 : close]))
            pos = close + 2
        else:
            close = text.find("]]", k + 2)
            if close < 0:
                k = -1
                continue
            content = text[k + 2 : close]
            blank_end = _blank_line_end(content)
            if blank_end is not None:
                # Every "[[" before that blank line would span it too.
                k = text.find("[[", k + 2 + blank_end)
                continue
            spans.append(_Span(k, close + 2, "note", content))
            pos = close + 2
        if 0 <= b < pos:
            b = text.find("/*", pos)
        if 0 <= k < pos:
            k = text.find("[[", pos)
    return spans


class _Stripped:
    """The source with spans cut out, and a map from its offsets to the source's."""

    __slots__ = ("lengths", "orig_len", "orig_starts", "text", "work_starts")

    def __init__(self, source: str, spans: list[_Span]) -> None:
        self.orig_len = len(source)
        kept: list[tuple[int, int]] = []
        pos = 0
        for span in spans:
            kept.append((pos, span.start))
            end = span.end
            # Swallow the spaces after a span that follows a space or starts a
            # line, so "said [[n]] softly" reads "said softly", not two spaces.
            if span.start == 0 or source[span.start - 1] in " \t\r\n":
                while end < len(source) and source[end] in " \t":
                    end += 1
            pos = end
        kept.append((pos, len(source)))
        self.work_starts: list[int] = []
        self.orig_starts: list[int] = []
        self.lengths: list[int] = []
        pieces: list[str] = []
        w = 0
        for a, b in kept:
            if b > a:
                self.work_starts.append(w)
                self.orig_starts.append(a)
                self.lengths.append(b - a)
                pieces.append(source[a:b])
                w += b - a
        self.text = "".join(pieces)

    def left(self, w: int) -> int:
        """Source offset of working offset ``w``, before any span removed there."""
        k = bisect.bisect_left(self.work_starts, w) - 1
        if k < 0:
            return 0
        return self.orig_starts[k] + (w - self.work_starts[k])

    def right(self, w: int) -> int:
        """Source offset of working offset ``w``, after any span removed there."""
        k = bisect.bisect_right(self.work_starts, w) - 1
        if k >= 0 and w < self.work_starts[k] + self.lengths[k]:
            return self.orig_starts[k] + (w - self.work_starts[k])
        return self.orig_len


@dataclass(slots=True)
class _Line:
    text: str
    start: int
    end: int
    empty: bool
    spacer: bool

    @property
    def blank(self) -> bool:
        return self.empty and not self.spacer


def _split_lines(source: str, spans: list[_Span]) -> list[_Line]:
    """Working lines with source offsets; lines emptied by spans are handled here."""
    lines: list[_Line] = []
    if not spans:
        pos = 0
        for m in _NEWLINE_RE.finditer(source):
            t = source[pos : m.start()]
            lines.append(_Line(t, pos, m.start(), not t.strip(), _is_spacer(t)))
            pos = m.end()
        t = source[pos:]
        lines.append(_Line(t, pos, len(source), not t.strip(), _is_spacer(t)))
        return lines
    stripped = _Stripped(source, spans)
    bone_starts = [s.start for s in spans if s.kind == "boneyard"]
    work = stripped.text
    bounds: list[tuple[int, int]] = []
    pos = 0
    for m in _NEWLINE_RE.finditer(work):
        bounds.append((pos, m.start()))
        pos = m.end()
    bounds.append((pos, len(work)))
    for ws, we in bounds:
        t = work[ws:we]
        start, end = stripped.left(ws), stripped.right(we)
        if not t.strip() and not _is_spacer(t) and end - start > we - ws:
            i = bisect.bisect_left(bone_starts, start)
            if i < len(bone_starts) and bone_starts[i] < end:
                lines.append(_Line("", start, end, True, False))
            # A line that only held notes disappears entirely.
            continue
        lines.append(_Line(t, start, end, not t.strip(), _is_spacer(t)))
    return lines


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------


def _parse_title_page(lines: list[_Line]) -> tuple[list[tuple[str, str]], int]:
    """Title page entries and the index of the first body line."""
    if not lines or _TITLE_KEY_RE.fullmatch(lines[0].text) is None:
        return [], 0
    entries: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(lines) and not lines[i].empty:
        raw = lines[i].text
        m = None if raw[:1] in (" ", "\t") else _TITLE_KEY_RE.fullmatch(raw)
        if m is not None:
            value = m.group(2).strip()
            entries.append((m.group(1), [value] if value else []))
        elif raw[:1] in (" ", "\t"):
            entries[-1][1].append(raw.strip())
        else:
            # Not key/value shaped: this paragraph is script, not a title page.
            return [], 0
        i += 1
    return [(key, "\n".join(values)) for key, values in entries], i


class _Parser:
    """Classifies working lines into elements; one instance per ``parse`` call."""

    __slots__ = ("elements", "lines", "n")

    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.n = len(lines)
        self.elements: list[Element] = []

    def emit(
        self,
        kind: ElementType,
        text: str,
        first: int,
        last: int,
        *,
        scene_number: str | None = None,
        extension: str | None = None,
        dual: bool = False,
        depth: int = 0,
    ) -> None:
        """Append an element spanning working lines ``first``..``last``."""
        self.elements.append(
            Element(
                kind,
                text,
                scene_number=scene_number,
                extension=extension,
                dual=dual,
                depth=depth,
                start=self.lines[first].start,
                end=self.lines[last].end,
            )
        )

    def run(self, i: int) -> None:
        """Parse the body starting at line ``i`` (just after any title page)."""
        lines, n = self.lines, self.n
        prev_blank = True
        while i < n:
            line = lines[i]
            if line.empty:
                prev_blank = True
                i += 1
                continue
            s = line.text.strip()
            if prev_blank:
                next_blank = i + 1 >= n or lines[i + 1].blank
                kind: _Kind = _start_kind(s, next_blank)
            else:
                kind = _inline_kind(s) or "action"
            prev_blank = False
            if kind == "page_break":
                self.emit("page_break", "", i, i)
                prev_blank = True
                i += 1
            elif kind == "section":
                depth = len(s) - len(s.lstrip("#"))
                self.emit("section", s[depth:].strip(), i, i, depth=depth)
                prev_blank = True
                i += 1
            elif kind == "synopsis":
                self.emit("synopsis", s[1:].strip(), i, i)
                prev_blank = True
                i += 1
            elif kind == "centered":
                self.emit("centered", s[1:-1].strip(), i, i)
                i += 1
            elif kind == "lyrics":
                i = self.lyrics(i, dual=False)
            elif kind == "scene_heading":
                self.heading(s, i)
                i += 1
            elif kind == "transition":
                text = s[1:].strip() if s.startswith(">") else s
                self.emit("transition", text, i, i)
                i += 1
            elif kind == "character":
                i = self.dialogue_block(s, i)
            else:
                i = self.action(i)

    def heading(self, s: str, i: int) -> None:
        """Emit the scene heading on line ``i``, splitting off a ``#12A#`` number."""
        text = s[1:] if s.startswith(".") else s
        number = None
        m = _SCENE_NUMBER_RE.search(text)
        if m is not None and m.start() > 0:
            number = m.group(1)
            text = text[: m.start()]
        self.emit("scene_heading", text.strip(), i, i, scene_number=number)

    def lyrics(self, i: int, dual: bool) -> int:
        """Emit consecutive ``~`` lines from ``i`` as one element; return the next line."""
        j = i
        out: list[str] = []
        while j < self.n and not self.lines[j].empty:
            s = self.lines[j].text.strip()
            if not s.startswith("~"):
                break
            out.append(s[1:].strip())
            j += 1
        self.emit("lyrics", "\n".join(out), i, j - 1, dual=dual)
        return j

    def action(self, i: int) -> int:
        """Emit the action paragraph starting at ``i``; return the next line."""
        out: list[str] = []
        j = i
        while j < self.n:
            line = self.lines[j]
            if line.blank:
                break
            s = line.text.strip()
            if j > i and _inline_kind(s) is not None:
                break
            text = line.text
            if s.startswith("!"):
                text = text.replace("!", "", 1)
            # Tabs become four spaces, as the spec says; trailing blanks are noise.
            out.append(text.replace("\t", "    ").rstrip())
            j += 1
        self.emit("action", "\n".join(out), i, j - 1)
        return j

    def paren_end(self, j: int) -> int | None:
        """Last line index of a parenthetical starting at line ``j``, if one does."""
        s = self.lines[j].text.strip()
        if not s.startswith("("):
            return None
        if s.endswith(")"):
            return j
        if ")" in s:
            return None
        # A parenthetical wrapped over several lines: "(beat,\nthen softly)".
        k = j + 1
        while k < self.n and not self.lines[k].empty:
            t = self.lines[k].text.strip()
            if "(" in t:
                return None
            if ")" in t:
                return k if t.endswith(")") and t.count(")") == 1 else None
            k += 1
        return None

    def dialogue_block(self, s: str, i: int) -> int:
        """Emit the cue on line ``i`` and its block up to a blank line; return the next."""
        name, extension, dual = _character_parts(s)
        self.emit("character", name, i, i, extension=extension, dual=dual)
        j = i + 1
        while j < self.n and not self.lines[j].blank:
            s = self.lines[j].text.strip()
            end = self.paren_end(j)
            if end is not None:
                text = "\n".join(self.lines[k].text.strip() for k in range(j, end + 1))
                self.emit("parenthetical", text, j, end, dual=dual)
                j = end + 1
            elif s.startswith("~"):
                j = self.lyrics(j, dual)
            else:
                first = j
                out: list[str] = []
                while j < self.n and not self.lines[j].blank:
                    t = self.lines[j].text.strip()
                    if t.startswith("~") or self.paren_end(j) is not None:
                        break
                    out.append(t)
                    j += 1
                self.emit("dialogue", "\n".join(out), first, j - 1, dual=dual)
        return j


class _Utf16:
    """Converts code point offsets of one text into UTF-16 code unit offsets."""

    __slots__ = ("astral",)

    def __init__(self, text: str) -> None:
        # Only characters outside the BMP take two UTF-16 units.
        self.astral = [] if text.isascii() else [m.start() for m in _ASTRAL_RE.finditer(text)]

    def __call__(self, i: int) -> int:
        return i + bisect.bisect_left(self.astral, i) if self.astral else i


def parse(text: str) -> Script:
    """Parse Fountain ``text`` into a :class:`Script`; never raises on any str."""
    spans = _find_spans(text)
    lines = _split_lines(text, spans)
    title_page, body = _parse_title_page(lines)
    parser = _Parser(lines)
    parser.run(body)
    u16 = _Utf16(text)
    removed = [
        Element(s.kind, _NEWLINE_RE.sub("\n", s.text), start=s.start, end=s.end) for s in spans
    ]
    # Stable sort: an element and a note starting at the same offset keep the
    # element first, which is also where the exporter writes the note back.
    ordered = sorted(parser.elements + removed, key=lambda el: el.start)
    elements: list[Element] = []
    headings: list[Element] = []
    index: int | None = None
    for el in ordered:
        if el.type == "scene_heading":
            index = 0 if index is None else index + 1
        el = replace(el, start=u16(el.start), end=u16(el.end), scene_index=index)
        if el.type == "scene_heading":
            headings.append(el)
        elements.append(el)
    total = u16(len(text))
    scenes = [
        Scene(
            index=n,
            heading=h.text,
            scene_number=h.scene_number,
            start=h.start,
            end=headings[n + 1].start if n + 1 < len(headings) else total,
        )
        for n, h in enumerate(headings)
    ]
    return Script(title_page=title_page, elements=elements, scenes=scenes)


# --------------------------------------------------------------------------
# Fountain export
# --------------------------------------------------------------------------

_BLOCK_TYPES = frozenset({"character", "parenthetical", "dialogue", "lyrics"})


def _export_title_page(entries: list[tuple[str, str]]) -> str:
    out: list[str] = []
    for key, value in entries:
        if "\n" in value:
            out.append(f"{key}:")
            out.extend("    " + v for v in value.split("\n"))
        else:
            out.append(f"{key}: {value}" if value else f"{key}:")
    return "\n".join(out)


def _export_action(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    for n, line in enumerate(lines):
        s = line.strip()
        if n == 0:
            forced = not s or s.startswith("!") or _start_kind(s, len(lines) == 1) != "action"
            out.append("!" + line if forced else line)
        elif not s:
            out.append("  ")  # two spaces: an empty line that keeps the action going
        elif s.startswith("!") or _inline_kind(s) is not None:
            out.append("!" + line)
        else:
            out.append(line)
    return "\n".join(out)


def _export_element(el: Element, followed_in_block: bool) -> str:
    kind = el.type
    if kind == "scene_heading":
        line = el.text + (f" #{el.scene_number}#" if el.scene_number else "")
        natural = _start_kind(line, True) == "scene_heading" and not line.startswith(".")
        return line if natural else "." + line
    if kind == "action":
        return _export_action(el.text)
    if kind == "character":
        line = el.text + (f" {el.extension}" if el.extension else "") + (" ^" if el.dual else "")
        natural = _start_kind(line, not followed_in_block) == "character"
        return line if natural and not line.startswith("@") else "@" + line
    if kind == "dialogue":
        return "\n".join(line if line else "  " for line in el.text.split("\n"))
    if kind == "parenthetical":
        return el.text
    if kind == "transition":
        natural = _start_kind(el.text, True) == "transition" and not el.text.startswith(">")
        return el.text if natural else "> " + el.text
    if kind == "centered":
        return f"> {el.text} <"
    if kind == "lyrics":
        return "\n".join("~" + line for line in el.text.split("\n"))
    if kind == "section":
        return "#" * max(el.depth, 1) + " " + el.text
    if kind == "synopsis":
        return "= " + el.text
    if kind == "page_break":
        return "==="
    if kind == "note":
        return f"[[{el.text}]]"
    return f"/*{el.text}*/"


def _attach(exported: str, markup: str) -> str:
    """Append note/boneyard ``markup`` to the last non-blank line of ``exported``.

    A trailing two-space line must stay whitespace-only, or it would turn into
    a line that held only a note (dropped) or boneyard (blank).
    """
    lines = exported.split("\n")
    for n in range(len(lines) - 1, -1, -1):
        if lines[n].strip():
            lines[n] += " " + markup
            return "\n".join(lines)
    return exported + " " + markup


def to_fountain(script: Script) -> str:
    """Write ``script`` as Fountain text that parses back to the same elements.

    Forcing markers (``!``, ``@``, ``.``, ``>``) are added only where the plain
    text would be read as another element.  Notes and boneyard are appended to
    the end of the preceding element's last line, where they change nothing.
    """
    structural = [el for el in script.elements if el.type not in ("note", "boneyard")]
    parts: list[str] = []
    if script.title_page:
        parts.append(_export_title_page(script.title_page))
    body: list[str] = []
    prev: Element | None = None
    in_block = False
    k = 0
    for el in script.elements:
        if el.type in ("note", "boneyard"):
            markup = _export_element(el, False)
            if prev is None:
                body.append(markup + "\n")
            else:
                body[-1] = _attach(body[-1], markup)
            continue
        k += 1
        nxt = structural[k] if k < len(structural) else None
        if prev is not None:
            continues_block = in_block and (
                el.type in ("parenthetical", "dialogue")
                or (el.type == "lyrics" and prev.type != "lyrics")
            )
            body.append("\n" if continues_block else "\n\n")
            in_block = continues_block
        if el.type == "character":
            in_block = True
        follows = (
            nxt is not None
            and el.type in _BLOCK_TYPES
            and nxt.type in ("parenthetical", "dialogue", "lyrics")
        )
        body.append(_export_element(el, follows))
        prev = el
    if body:
        if parts:
            parts.append("\n\n")
        parts.append("".join(body))
    out = "".join(parts)
    if out and not script.title_page and _parse_title_page(_split_lines(out, _find_spans(out)))[0]:
        # The body opens with "Key: value" lines; a leading blank line stops
        # them from being read as a title page.
        out = "\n" + out
    return out + "\n" if out else out


# --------------------------------------------------------------------------
# HTML rendering
# --------------------------------------------------------------------------

_EMPHASIS = (
    (re.compile(r"\*\*\*(?=\S)([^\n]*?\S)\*\*\*"), r"<strong><em>\1</em></strong>"),
    (re.compile(r"\*\*(?=\S)([^\n]*?\S)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*(?=\S)([^\n]*?\S)\*"), r"<em>\1</em>"),
    (re.compile(r"_(?=\S)([^\n]*?\S)_"), r"<u>\1</u>"),
)

_CSS = """\
.fountain-script{font-family:"Courier Prime","Courier New",Courier,monospace;\
font-size:12pt;line-height:12pt;color:#000;background:#fff}
.fountain-script *{font-size:inherit}
.fountain-script .script{width:6.5in}
.fountain-script .el{margin:0 0 12pt 0;white-space:pre-wrap;overflow-wrap:break-word}
.fountain-script .scene-heading{position:relative;margin:12pt 0 12pt .5in;width:6in;\
font-weight:bold;text-transform:uppercase;break-after:avoid;page-break-after:avoid}
.fountain-script .scene-number{position:absolute;top:0}
.fountain-script .scene-number-left{left:-.75in}
.fountain-script .scene-number-right{right:-.6in}
.fountain-script .action,.fountain-script .lyrics{margin-left:.5in;width:6in}
.fountain-script .lyrics{font-style:italic}
.fountain-script .dialogue-block{margin:0 0 12pt 0;break-inside:avoid;page-break-inside:avoid}
.fountain-script .dialogue-block .el{margin-bottom:0}
.fountain-script .character{margin-left:2.7in;width:3.3in}
.fountain-script .parenthetical{margin-left:2.1in;width:2.4in}
.fountain-script .dialogue,.fountain-script .dialogue-block .lyrics{margin-left:1.5in;width:3.5in}
.fountain-script .dual-dialogue{display:flex;gap:.25in;margin:0 0 12pt .5in;width:6in;\
break-inside:avoid;page-break-inside:avoid}
.fountain-script .dual-dialogue .dialogue-block{flex:1 1 0;margin:0}
.fountain-script .dual-dialogue .character{margin-left:1in;width:auto}
.fountain-script .dual-dialogue .parenthetical{margin-left:.5in;width:auto}
.fountain-script .dual-dialogue .dialogue,\
.fountain-script .dual-dialogue .lyrics{margin-left:0;width:auto}
.fountain-script .transition{margin-left:.5in;width:6in;text-align:right}
.fountain-script .centered{margin-left:.5in;width:6in;text-align:center}
.fountain-script .fountain-section,.fountain-script .synopsis,.fountain-script .note\
{margin-left:.5in;width:6in;color:#666}
.fountain-script .fountain-section{font-weight:bold}
.fountain-script .synopsis,.fountain-script .note{font-style:italic}
.fountain-script .page-break{break-before:page;page-break-before:always;height:0;margin:0}
.fountain-script .title-page{display:flex;flex-direction:column;justify-content:space-between;\
min-height:8.5in;width:6.5in;break-after:page;page-break-after:always}
.fountain-script .title-main{margin-top:3in;text-align:center}
.fountain-script .title-main p,.fountain-script .title-extra p{margin:0 0 12pt 0;\
white-space:pre-wrap}
.fountain-script .title-page .tp-title{text-transform:uppercase}
@page{size:letter;margin:1in}
@media screen{.fountain-script{width:8.5in;padding:1in;box-sizing:border-box;margin:0 auto}}
@media print{.fountain-script{width:auto;padding:0;margin:0}\
.fountain-script .fountain-section,.fountain-script .synopsis,\
.fountain-script .note{display:none}}
"""

_TITLE_CENTER = {
    "title": "tp-title",
    "credit": "tp-credit",
    "author": "tp-author",
    "authors": "tp-author",
    "source": "tp-source",
}


def _inline(text: str) -> str:
    """Escape ``text`` for HTML, then turn Fountain emphasis into tags."""
    out = html.escape(text, quote=True)
    # Escaped markers become entities, which the emphasis patterns cannot match.
    out = out.replace("\\*", "&#42;").replace("\\_", "&#95;")
    for pattern, repl in _EMPHASIS:
        out = pattern.sub(repl, out)
    return out


def _div(cls: str, body: str) -> str:
    return f'<div class="el {cls}">{body}</div>'


def _render_title_page(entries: list[tuple[str, str]]) -> str:
    main: list[str] = []
    extra: list[str] = []
    for key, value in entries:
        cls = _TITLE_CENTER.get(key.strip().lower())
        if cls is not None:
            main.append(f'<p class="{cls}">{_inline(value)}</p>')
        else:
            extra.append(f"<p>{_inline(value)}</p>")
    return (
        '<section class="title-page">'
        f'<div class="title-main">{"".join(main)}</div>'
        f'<div class="title-extra">{"".join(extra)}</div>'
        "</section>"
    )


def _render_simple(el: Element) -> str:
    kind = el.type
    if kind == "scene_heading":
        number = ""
        if el.scene_number:
            n = html.escape(el.scene_number)
            number = (
                f'<span class="scene-number scene-number-left">{n}</span>'
                f'<span class="scene-number scene-number-right">{n}</span>'
            )
        return f'<h3 class="el scene-heading">{number}{_inline(el.text)}</h3>'
    if kind == "page_break":
        return '<div class="page-break"></div>'
    if kind == "boneyard":
        return ""  # commented out by the writer: never shown
    if kind == "section":
        return _div("fountain-section", _inline(el.text))
    if kind == "character":
        ext = f" {_inline(el.extension)}" if el.extension else ""
        return _div("character", _inline(el.text) + ext)
    return _div(kind, _inline(el.text))


def _render_elements(elements: list[Element]) -> list[str]:
    """Render a run of elements, grouping dialogue blocks and dual dialogue."""
    out: list[str] = []
    block: list[str] | None = None
    block_dual = False
    last_block_at = -1  # index in ``out`` of the last rendered dialogue block

    def close() -> None:
        nonlocal block, last_block_at
        if block is None:
            return
        html_block = '<div class="dialogue-block">' + "".join(block) + "</div>"
        at_end = last_block_at >= 0 and last_block_at == len(out) - 1
        prev = out[last_block_at] if at_end else None
        if block_dual and prev is not None and prev.startswith('<div class="dialogue-block">'):
            # The "^" cue sits beside the block right before it.
            out[-1] = f'<div class="dual-dialogue">{prev}{html_block}</div>'
        else:
            out.append(html_block)
        last_block_at = len(out) - 1
        block = None

    prev_type: str | None = None
    for el in elements:
        if el.type == "character":
            close()
            block = [_render_simple(el)]
            block_dual = el.dual
        elif block is not None and (
            el.type in ("parenthetical", "dialogue", "note", "boneyard")
            or (el.type == "lyrics" and prev_type != "lyrics")
        ):
            block.append(_render_simple(el))
        else:
            close()
            out.append(_render_simple(el))
        if el.type not in ("note", "boneyard"):
            prev_type = el.type
    close()
    return [part for part in out if part]


def render_html(script: Script) -> str:
    """Render ``script`` as a standalone, printable HTML fragment.

    The fragment carries its own ``<style>`` (screen and print rules, US letter
    pages).  Each scene is a ``<section id="scene-N">`` with N its index in
    ``script.scenes``.  All user text is HTML-escaped before emphasis markup
    (``***``, ``**``, ``*``, ``_``, with ``\\*``/``\\_`` escapes) is applied.
    """
    parts = ['<div class="fountain-script">', f"<style>\n{_CSS}</style>"]
    if script.title_page:
        parts.append(_render_title_page(script.title_page))
    parts.append('<div class="script">')
    groups: list[list[Element]] = [[]]
    for el in script.elements:
        if el.type == "scene_heading":
            groups.append([])
        groups[-1].append(el)
    parts.extend(_render_elements(groups[0]))
    for n, group in enumerate(groups[1:]):
        parts.append(f'<section class="scene" id="scene-{n}">')
        parts.extend(_render_elements(group))
        parts.append("</section>")
    parts.append("</div></div>")
    return "\n".join(parts) + "\n"

"""Tests for crdt.fountain: the Fountain 1.1 parser, exporter and HTML renderer.

Most fixtures are the examples of the Fountain syntax page (fountain.io/syntax).
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdt.fountain import Element, Script, parse, render_html, to_fountain


def kinds(text: str) -> list[tuple[str, str]]:
    return [(e.type, e.text) for e in parse(text).elements]


def u16_slice(text: str, start: int, end: int) -> str:
    units = text.encode("utf-16-le", "surrogatepass")
    return units[start * 2 : end * 2].decode("utf-16-le", "surrogatepass")


def u16_len(text: str) -> int:
    # A lone surrogate is one UTF-16 unit, as in JavaScript strings.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# ---------------------------------------------------------------- spec examples

SPEC_SCENE = """\
EXT. BRICK'S PATIO - DAY

A gorgeous day.  The sun is shining.  But BRICK BRADDOCK, retired police detective, \
is sitting quietly, contemplating -- something.

The SCREEN DOOR slides open and DICK STEEL, his former partner and fellow retiree, \
emerges with two cold beers.

STEEL
Beer's ready!

BRICK
Are they cold?
"""


def test_spec_scene_heading_action_character_dialogue() -> None:
    got = kinds(SPEC_SCENE)
    assert [k for k, _ in got] == [
        "scene_heading",
        "action",
        "action",
        "character",
        "dialogue",
        "character",
        "dialogue",
    ]
    assert got[0][1] == "EXT. BRICK'S PATIO - DAY"
    assert got[3:5] == [("character", "STEEL"), ("dialogue", "Beer's ready!")]


def test_spec_heading_prefixes_case_insensitive() -> None:
    for heading in [
        "INT. HOUSE - DAY",
        "EXT. HOUSE - DAY",
        "EST. HOUSE - DAY",
        "INT./EXT. HOUSE - DAY",
        "INT/EXT HOUSE - DAY",
        "I/E HOUSE - DAY",
        "int. house - day",
        "Ext house",
    ]:
        assert kinds(f"Before.\n\n{heading}\n\nAfter.")[1] == ("scene_heading", heading)
    assert kinds("\n\nINTERIOR DESIGN IS FUN\n")[0][0] == "action"
    assert kinds("EXTRA\n")[0][0] == "action"


def test_spec_forced_scene_heading() -> None:
    assert kinds("Before.\n\n.SNIPER SCOPE POV\n\nAfter.")[1] == (
        "scene_heading",
        "SNIPER SCOPE POV",
    )
    # Only a single period followed by an alphanumeric forces a heading.
    assert kinds("...and then nothing.")[0] == ("action", "...and then nothing.")
    assert kinds("..SNIPER")[0] == ("action", "..SNIPER")


def test_spec_scene_numbers() -> None:
    for number in ["1", "1A", "1a", "A1", "I-1-A", "1.", "110A"]:
        el = parse(f"INT. HOUSE - DAY #{number}#\n").elements[0]
        assert (el.type, el.text, el.scene_number) == ("scene_heading", "INT. HOUSE - DAY", number)
    el = parse(".SNIPER SCOPE POV #7#\n").elements[0]
    assert (el.text, el.scene_number) == ("SNIPER SCOPE POV", "7")
    script = parse("INT. HOUSE - DAY #1A#\n\nAction.")
    assert script.scenes[0].scene_number == "1A"
    assert script.scenes[0].heading == "INT. HOUSE - DAY"


def test_spec_action_keeps_line_breaks() -> None:
    text = (
        "They drink long and well from the beers.\n\n"
        "And then there's a long beat.\nLonger than is funny.\nLong enough to be depressing.\n\n"
        "The men look at each other."
    )
    assert kinds(text) == [
        ("action", "They drink long and well from the beers."),
        (
            "action",
            "And then there's a long beat.\nLonger than is funny.\nLong enough to be depressing.",
        ),
        ("action", "The men look at each other."),
    ]


def test_spec_forced_action() -> None:
    assert kinds("!SCANNING THE AISLES...\nWhere is that pit bull?") == [
        ("action", "SCANNING THE AISLES...\nWhere is that pit bull?")
    ]
    # Without "!" the same text is a character cue and dialogue.
    assert [k for k, _ in kinds("SCANNING THE AISLES...\nWhere is that pit bull?")] == [
        "character",
        "dialogue",
    ]


def test_spec_action_indentation_and_tabs() -> None:
    text = "Before.\n\n    Indented four.\n\tTabbed.\n        Eight."
    assert kinds(text)[1] == ("action", "    Indented four.\n    Tabbed.\n        Eight.")


def test_spec_character_and_extensions() -> None:
    assert kinds("STEEL\nThe man's a myth!") == [
        ("character", "STEEL"),
        ("dialogue", "The man's a myth!"),
    ]
    el = parse("HANS (on the radio)\nWhat was it you said?").elements[0]
    assert (el.type, el.text, el.extension) == ("character", "HANS", "(on the radio)")
    el = parse("BRICK (V.O.) (CONT'D)\nHey.").elements[0]
    assert (el.text, el.extension) == ("BRICK", "(V.O.) (CONT'D)")
    el = parse("R2D2 (O.S.)\nBeep.").elements[0]
    assert (el.type, el.text, el.extension) == ("character", "R2D2", "(O.S.)")


def test_spec_forced_character() -> None:
    got = parse("@McCLANE\nYippie ki-yay! I got my lower-case C back!").elements
    assert [(e.type, e.text) for e in got] == [
        ("character", "McCLANE"),
        ("dialogue", "Yippie ki-yay! I got my lower-case C back!"),
    ]
    # Not all caps and no "@": action.
    assert kinds("McCLANE\nYippie ki-yay!") == [("action", "McCLANE\nYippie ki-yay!")]


def test_character_needs_letters_and_following_line() -> None:
    assert kinds("1984\nA year.")[0][0] == "action"
    assert kinds("Something happens.\n\nBOOM\n\nSilence.") == [
        ("action", "Something happens."),
        ("action", "BOOM"),
        ("action", "Silence."),
    ]
    assert kinds("BOOM") == [("action", "BOOM")]


def test_spec_dialogue_and_two_space_line() -> None:
    text = (
        "SANBORN\nA good 'ole boy. You know, loves the Army, blood runs green. "
        "Country boy. Seems solid.\n\n"
        "DEALER\nTen.\nFour.\nDealer gets a seven.\n  \nHit or stand sir?\n\n"
        "MONKEY\nDude, I'm a monkey."
    )
    got = kinds(text)
    assert got[3] == ("dialogue", "Ten.\nFour.\nDealer gets a seven.\n\nHit or stand sir?")
    assert got[4:] == [("character", "MONKEY"), ("dialogue", "Dude, I'm a monkey.")]


def test_spec_parenthetical() -> None:
    assert kinds("STEEL\n(starting the engine)\nSo much for retirement!") == [
        ("character", "STEEL"),
        ("parenthetical", "(starting the engine)"),
        ("dialogue", "So much for retirement!"),
    ]
    assert kinds("STEEL\nWell.\n(beat)\nNo.") == [
        ("character", "STEEL"),
        ("dialogue", "Well."),
        ("parenthetical", "(beat)"),
        ("dialogue", "No."),
    ]
    assert kinds("STEEL\n(beat,\nthen softly)\nNo.")[1] == ("parenthetical", "(beat,\nthen softly)")


def test_spec_dual_dialogue() -> None:
    got = parse("BRICK\nScrew retirement.\n\nSTEEL ^\nScrew retirement.").elements
    assert [(e.type, e.text, e.dual) for e in got] == [
        ("character", "BRICK", False),
        ("dialogue", "Screw retirement.", False),
        ("character", "STEEL", True),
        ("dialogue", "Screw retirement.", True),
    ]
    el = parse("BRICK ^\nHey.").elements[0]
    assert (el.text, el.dual) == ("BRICK", True)
    el = parse("@McCLANE (V.O.) ^\nHey.").elements[0]
    assert (el.text, el.extension, el.dual) == ("McCLANE", "(V.O.)", True)


def test_spec_lyrics() -> None:
    text = (
        "~Willy Wonka! Willy Wonka! The amazing chocolatier!\n"
        "~Willy Wonka! Willy Wonka! Everybody give a cheer!"
    )
    assert kinds(text) == [
        (
            "lyrics",
            "Willy Wonka! Willy Wonka! The amazing chocolatier!\n"
            "Willy Wonka! Willy Wonka! Everybody give a cheer!",
        )
    ]
    assert kinds("WONKA\n~Pure imagination")[1] == ("lyrics", "Pure imagination")


def test_spec_transitions() -> None:
    assert kinds("Jack begins to cry.\n\nCUT TO:\n\nINT. GARAGE - DAY") == [
        ("action", "Jack begins to cry."),
        ("transition", "CUT TO:"),
        ("scene_heading", "INT. GARAGE - DAY"),
    ]
    assert kinds("Jack.\n\n> Burn to White.\n\nEnd.")[1] == ("transition", "Burn to White.")
    assert kinds("Fade.\n\n> CUT TO BLACK.")[1] == ("transition", "CUT TO BLACK.")
    # Transition needs a blank line after; otherwise it is a character cue.
    assert kinds("CUT TO:\nSomething")[0][0] == "character"


def test_spec_centered() -> None:
    assert kinds(">THE END<") == [("centered", "THE END")]
    assert kinds("> THE END <") == [("centered", "THE END")]
    assert kinds("He leaves.\n> THE END <") == [("action", "He leaves."), ("centered", "THE END")]


def test_spec_page_break() -> None:
    assert kinds("Before.\n\n===\n\nAfter.") == [
        ("action", "Before."),
        ("page_break", ""),
        ("action", "After."),
    ]
    assert kinds("=====")[0][0] == "page_break"
    assert kinds("==")[0] == ("synopsis", "=")


def test_spec_sections_and_synopses() -> None:
    got = parse("# ACT I\n\n= Set up the characters.\n\n## Breakfast\n\n### Mom\n").elements
    assert [(e.type, e.text, e.depth) for e in got] == [
        ("section", "ACT I", 1),
        ("synopsis", "Set up the characters.", 0),
        ("section", "Breakfast", 2),
        ("section", "Mom", 3),
    ]


def test_spec_inline_note() -> None:
    text = (
        "INT. TRAILER HOME - DAY\n\n"
        "This is the home of THE BOY BAND, AKA DAN and JACK[[Or did we think of actual "
        "names for these guys?]]. They too are drinking beer."
    )
    got = parse(text).elements
    assert [(e.type, e.text) for e in got] == [
        ("scene_heading", "INT. TRAILER HOME - DAY"),
        (
            "action",
            "This is the home of THE BOY BAND, AKA DAN and JACK. They too are drinking beer.",
        ),
        ("note", "Or did we think of actual names for these guys?"),
    ]
    note = got[2]
    assert u16_slice(text, note.start, note.end).startswith("[[Or did")


def test_spec_multiline_note() -> None:
    text = (
        "His hand is an inch from the receiver when the phone RINGS.[[This section needs work.\n"
        "Either that, or I need coffee.\n  \nDefinitely coffee.]] He looks around.  Phone ringing."
    )
    assert kinds(text) == [
        (
            "action",
            "His hand is an inch from the receiver when the phone RINGS. "
            "He looks around.  Phone ringing.",
        ),
        (
            "note",
            "This section needs work.\nEither that, or I need coffee.\n  \nDefinitely coffee.",
        ),
    ]


def test_note_cannot_span_empty_line() -> None:
    assert kinds("A [[broken\n\nnote]] B") == [("action", "A [[broken"), ("action", "note]] B")]


def test_note_line_between_dialogue_lines_keeps_block() -> None:
    assert kinds("BOB\nHello.\n[[check this]]\nGoodbye.") == [
        ("character", "BOB"),
        ("dialogue", "Hello.\nGoodbye."),
        ("note", "check this"),
    ]


def test_spec_boneyard_spanning_scenes() -> None:
    text = (
        "COGNITO\nEveryone's coming after you mate!\n\n"
        "CUT TO:\n/*\nINT. GARAGE - DAY\n\nBRICK and STEEL get into Mom's PORSCHE.\n\n"
        "BRICK\nThis is everybody we've ever put away.\n\nCUT TO:\n*/\n"
        "EXT. PALATIAL MANSION - DAY\n\nAn EXTREMELY HANDSOME MAN drinks a beer."
    )
    script = parse(text)
    assert [e.type for e in script.elements] == [
        "character",
        "dialogue",
        "transition",
        "boneyard",
        "scene_heading",
        "action",
    ]
    assert "INT. GARAGE - DAY" in script.elements[3].text
    assert [s.heading for s in script.scenes] == ["EXT. PALATIAL MANSION - DAY"]
    assert script.elements[3].scene_index is None


def test_boneyard_inline_and_unterminated() -> None:
    assert kinds("He /* quietly */ leaves.") == [
        ("action", "He leaves."),
        ("boneyard", " quietly "),
    ]
    assert kinds("He /* leaves.") == [("action", "He /* leaves.")]
    assert kinds("He [[ leaves.") == [("action", "He [[ leaves.")]


def test_emphasis_left_in_text() -> None:
    assert kinds("*italics* **bold** ***both*** _underline_ \\*not\\*") == [
        ("action", "*italics* **bold** ***both*** _underline_ \\*not\\*")
    ]


# ---------------------------------------------------------------- title page

TITLE = """\
Title:
    _**BRICK & STEEL**_
    _**FULL RETIRED**_
Credit: Written by
Author: Stu Maschwitz
Source: Story by KTM
Draft date: 1/20/2012
Contact:
    Next Level Productions
    1588 Mission Dr.
    Solvang, CA 93463

EXT. BRICK'S PATIO - DAY

A gorgeous day.
"""


def test_spec_title_page() -> None:
    script = parse(TITLE)
    assert script.title_page == [
        ("Title", "_**BRICK & STEEL**_\n_**FULL RETIRED**_"),
        ("Credit", "Written by"),
        ("Author", "Stu Maschwitz"),
        ("Source", "Story by KTM"),
        ("Draft date", "1/20/2012"),
        ("Contact", "Next Level Productions\n1588 Mission Dr.\nSolvang, CA 93463"),
    ]
    assert [e.type for e in script.elements] == ["scene_heading", "action"]


def test_only_title_page() -> None:
    script = parse("Title: Nothing Yet\nAuthor: Me")
    assert script.title_page == [("Title", "Nothing Yet"), ("Author", "Me")]
    assert script.elements == []
    assert script.scenes == []


def test_title_page_only_at_start() -> None:
    script = parse("Some action.\n\nTitle: Not a title")
    assert script.title_page == []
    assert kinds("Some action.\n\nTitle: Not a title")[1] == ("action", "Title: Not a title")
    # A first paragraph that is not all key/value lines is script.
    assert parse("Title: x\nhe walks in").title_page == []


def test_empty_text() -> None:
    script = parse("")
    assert (script.title_page, script.elements, script.scenes) == ([], [], [])
    assert parse("\n\n  \n").elements == []
    assert to_fountain(parse("")) == ""


# ---------------------------------------------------------------- edge cases


def test_heading_without_blank_line_before_is_action() -> None:
    assert kinds("He runs.\nINT. HOUSE - DAY") == [("action", "He runs.\nINT. HOUSE - DAY")]
    assert kinds("He runs.\n.SNIPER SCOPE POV") == [("action", "He runs.\n.SNIPER SCOPE POV")]


def test_all_caps_line_without_following_line_is_action() -> None:
    assert kinds("Before.\n\nBOOM!") == [("action", "Before."), ("action", "BOOM!")]
    assert kinds("Before.\n\nBOOM!\n\nAfter.")[1] == ("action", "BOOM!")


def test_heading_directly_followed_by_action() -> None:
    assert kinds("INT. HOUSE - DAY\nBob enters.") == [
        ("scene_heading", "INT. HOUSE - DAY"),
        ("action", "Bob enters."),
    ]


def test_crlf_and_cr_line_endings() -> None:
    lf = SPEC_SCENE + "\n" + TITLE.split("\n\n", 1)[1]
    crlf = lf.replace("\n", "\r\n")
    cr = lf.replace("\n", "\r")
    assert kinds(crlf) == kinds(lf) == kinds(cr)
    script = parse(crlf)
    for el in script.elements:
        assert "\r" not in el.text
        assert not u16_slice(crlf, el.start, el.end).endswith("\r")
    second = script.scenes[1]
    assert u16_slice(crlf, second.start, second.end).startswith("EXT. BRICK'S PATIO - DAY\r\n")
    note = parse("A [[one\r\ntwo]] B").elements[1]
    assert (note.type, note.text) == ("note", "one\ntwo")


def test_offsets_are_utf16_units() -> None:
    text = "Emoji 😀😀 here.\n\nINT. CAFÉ 🍰 - DAY\n\nBOB\nHi 👋\n\nEXT. STREET - NIGHT\n\nEnd."
    script = parse(text)
    total = u16_len(text)
    assert total == len(text) + 4
    first, second = script.scenes
    assert first.start == u16_len("Emoji 😀😀 here.\n\n")
    assert u16_slice(text, first.start, first.end) == "INT. CAFÉ 🍰 - DAY\n\nBOB\nHi 👋\n\n"
    assert (second.start, second.end) == (first.end, total)
    for el in script.elements:
        source = u16_slice(text, el.start, el.end)
        assert el.text.split("\n")[0] in source
    dialogue = next(e for e in script.elements if e.type == "dialogue")
    assert u16_slice(text, dialogue.start, dialogue.end) == "Hi 👋"
    assert script.scene_at(first.start + 3) == first
    assert script.scene_at(second.start) == second
    assert script.scene_at(0) is None


def test_scene_index_and_scene_spans() -> None:
    text = "Cold open.\n\nINT. A - DAY\n\nOne.\n\nEXT. B - NIGHT #2#\n\nTwo.\n"
    script = parse(text)
    assert [(e.type, e.scene_index) for e in script.elements] == [
        ("action", None),
        ("scene_heading", 0),
        ("action", 0),
        ("scene_heading", 1),
        ("action", 1),
    ]
    assert [(s.index, s.heading, s.scene_number) for s in script.scenes] == [
        (0, "INT. A - DAY", None),
        (1, "EXT. B - NIGHT", "2"),
    ]
    assert script.scenes[0].end == script.scenes[1].start
    assert script.scenes[1].end == len(text)
    first = script.scenes[0]
    assert u16_slice(text, first.start, first.end) == "INT. A - DAY\n\nOne.\n\n"


# ---------------------------------------------------------------- round trip

ROUND_TRIP_DOCS = [
    SPEC_SCENE,
    TITLE,
    "@McCLANE\nYippie ki-yay!\n\nBRICK\nScrew retirement.\n\nSTEEL ^\nScrew retirement.",
    "Before.\n\n.SNIPER SCOPE POV #3#\n\n!SCANNING THE AISLES...\nWhere?\n\n> Burn to White.",
    "Jack.\n\nCUT TO:\n\nINT. GARAGE - DAY\n\n>THE END<\n\n===\n\n# ACT\n\n## Scene\n\n= Synopsis",
    "DEALER\nTen.\n  \nHit?\n(beat)\n~La la\nStand.\n\n~Solo lyric\n~Second line",
    "A [[note]] B.\n\nBOB\nHi [[x]] there /* gone */\n(beat)\nMore.\n\n"
    "CUT TO:\n/*\nINT. X\n*/\nEXT. Y",
    "Note: this looks like a title page\n\nBut it is action.",
    "    Indented.\n\tTabbed.\n\n...ellipsis\n\n!# not a section\n\n!BOB\nhi",
    "INT. HOUSE - DAY\nRight away.\nBOB\n.HEADING\n~ lyric interrupts\n\nCUT TO:\nSomeone",
    "[[lead note]]\nINT. A\n\nText",
]


def test_round_trip_examples() -> None:
    for doc in ROUND_TRIP_DOCS:
        first = parse(doc)
        again = parse(to_fountain(first))
        assert [(e.type, e.text) for e in again.elements] == [
            (e.type, e.text) for e in first.elements
        ], doc
        assert [(e.scene_number, e.extension, e.dual, e.depth) for e in again.elements] == [
            (e.scene_number, e.extension, e.dual, e.depth) for e in first.elements
        ]
        assert again.title_page == first.title_page


def test_to_fountain_adds_forcing_markers() -> None:
    script = Script(
        elements=[
            Element("scene_heading", "Sniper scope POV"),
            Element("action", "BOB\nruns."),
            Element("character", "McClane"),
            Element("dialogue", "Hi."),
            Element("transition", "Fade out."),
        ]
    )
    out = to_fountain(script)
    assert ".Sniper scope POV" in out
    assert "!BOB" in out
    assert "@McClane" in out
    assert "> Fade out." in out
    assert [(e.type, e.text) for e in parse(out).elements] == [
        (e.type, e.text) for e in script.elements
    ]


# Brackets and slashes are left out: an unterminated "[[" or "/*" in action text
# can pair with a note written elsewhere on export, and Fountain has no escape.
_LINES = st.sampled_from(
    [
        "",
        "",
        "  ",
        "INT. HOUSE - DAY",
        "EXT. ROAD #12A#",
        ".FORCED",
        "...",
        "BOB",
        "BOB (V.O.)",
        "ALICE ^",
        "@McCoy",
        "(beat)",
        "(long",
        "pause)",
        "Hello there.",
        "  indented",
        "\tTabbed",
        "CUT TO:",
        "> FADE OUT.",
        ">THE END<",
        "~La la",
        "# Act",
        "## Part",
        "= synopsis",
        "===",
        "!BANG",
        "Key: value",
        "    continued",
        "*bold* _u_",
        "😀 emoji",
        "@",
        ">",
        "!",
        "^",
    ]
)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINES, max_size=30), st.sampled_from(["\n", "\r\n"]))
def test_round_trip_property(lines: list[str], newline: str) -> None:
    first = parse(newline.join(lines))
    again = parse(to_fountain(first))
    assert [(e.type, e.text) for e in again.elements] == [(e.type, e.text) for e in first.elements]
    assert again.title_page == first.title_page


# ---------------------------------------------------------------- properties

_ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\n\r\t #=.!@~^>()<[]*/_:ABCINTEXabc😀é")),
        st.characters(),
    ),
    max_size=300,
)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(_ANY_TEXT)
def test_parse_never_raises_and_offsets_are_sane(text: str) -> None:
    script = parse(text)
    total = u16_len(text)
    previous_end = 0
    for i, scene in enumerate(script.scenes):
        assert scene.index == i
        assert 0 <= scene.start <= scene.end <= total
        assert scene.start >= previous_end
        previous_end = scene.end
    if script.scenes:
        assert script.scenes[-1].end == total
    for el in script.elements:
        assert 0 <= el.start <= el.end <= total
    starts = [el.start for el in script.elements]
    assert starts == sorted(starts)
    render_html(script)
    to_fountain(script)


# ---------------------------------------------------------------- HTML

XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


def _assert_no_injection(out: str) -> None:
    assert "<script" not in out.lower()
    assert "<img" not in out.lower()
    assert re.search(r"<[^>]*onerror", out, re.IGNORECASE) is None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out or "&lt;img" in out


def test_html_escapes_every_element_kind() -> None:
    for payload in XSS:
        doc = (
            f"Title: {payload}\nAuthor: x\nContact:\n    {payload}\n\n"
            f"# {payload}\n\n= {payload}\n\n"
            f"INT. {payload} - DAY #1#\n\n"
            f"Action {payload} [[note {payload}]] /* bone {payload} */\n\n"
            f"@BOB {payload}\n({payload})\nSays {payload}\n~sings {payload}\n\n"
            f"ALICE ({payload}) ^\n{payload}\n\n"
            f"> {payload}\n\n> {payload} <\n\n~{payload}\n\n===\n\n.{payload}x\n\n"
            f"{payload.upper()} TO:\n\nEnd."
        )
        script = parse(doc)
        assert {e.type for e in script.elements} >= {
            "section",
            "synopsis",
            "scene_heading",
            "action",
            "note",
            "boneyard",
            "character",
            "parenthetical",
            "dialogue",
            "lyrics",
            "transition",
            "centered",
            "page_break",
        }
        out = render_html(script)
        _assert_no_injection(out)
        for el in script.elements:
            if el.type not in ("boneyard", "page_break"):
                # Every visible element's text shows up escaped.
                assert el.text.replace("<", "&lt;").split("&lt;")[0] in out
        assert out.count("&lt;script&gt;") + out.count("&lt;img") >= 12


def test_html_escapes_scene_number_extension_and_attributes() -> None:
    script = Script(
        title_page=[("<b onmouseover=x>", '"><script>x</script>')],
        elements=[
            Element("scene_heading", "INT. X", scene_number="<script>"),
            Element("character", "BOB", extension="(<img src=x onerror=alert(1)>)"),
            Element("dialogue", '" onload="x'),
        ],
    )
    out = render_html(script)
    assert "<script" not in out and "<img" not in out and "<b " not in out
    assert '" onload="x' not in out
    assert "&quot; onload=&quot;x" in out


def test_html_emphasis_and_escapes() -> None:
    out = render_html(parse("***both*** **bold** *it* _under_ \\*lit\\* 5 * 3 & 4"))
    assert "<strong><em>both</em></strong>" in out
    assert "<strong>bold</strong>" in out
    assert "<em>it</em>" in out
    assert "<u>under</u>" in out
    assert "&#42;lit&#42;" in out
    assert "5 * 3 &amp; 4" in out


def test_html_emphasis_cannot_smuggle_markup() -> None:
    out = render_html(parse("**<script>x</script>** _<img src=x onerror=y>_"))
    assert "<strong>&lt;script&gt;x&lt;/script&gt;</strong>" in out
    assert "<u>&lt;img src=x onerror=y&gt;</u>" in out
    _assert_no_injection(out)


def test_html_layout() -> None:
    script = parse(
        TITLE + "\nSTEEL\n(beat)\nBeer's ready!\n\nBRICK ^\nCold?\n\nCUT TO:\n\n===\n\n"
        "INT. GARAGE - DAY #2#\n\n>THE END<\n"
    )
    out = render_html(script)
    assert out.startswith('<div class="fountain-script">')
    assert "<style>" in out and "@media print" in out
    assert "@page{size:letter;margin:1in}" in out
    assert "Courier" in out and "12pt" in out
    assert 'class="title-page"' in out and "page-break-after:always" in out
    assert '<section class="scene" id="scene-0">' in out
    assert '<section class="scene" id="scene-1">' in out
    assert out.count('class="scene-number scene-number-') == 2
    assert 'class="dual-dialogue"' in out
    assert 'class="page-break"' in out and "page-break-before:always" in out
    assert 'class="el transition"' in out and "text-align:right" in out
    assert 'class="el centered">THE END<' in out
    assert "<strong>BRICK &amp; STEEL</strong>" in out
    for rule in ("margin-left:2.7in", "margin-left:1.5in", "margin-left:2.1in", "margin-left:.5in"):
        assert rule in out

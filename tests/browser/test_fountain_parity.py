"""The browser's Fountain parser (frontend/src/fountain.ts) agrees with the server's."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from crdt.fountain import parse
from tests.browser.conftest import FRONTEND, _missing

SAMPLES = [
    "INT. HOUSE - DAY\n\nBob walks in.\n\nBOB\n(quietly)\nHello there.\n\nCUT TO:\n\n"
    "EXT. GARDEN - NIGHT #2#\n\nRain.\n",
    "Title: The Letter\nAuthor: Someone\n  Second line\n\nINT. A - DAY\n\nBOB ^\nhi\n  \nthere\n\n"
    "/* gone\nBOB\n*/\n\n= syn\n# Act\n## Scene group\n===\n>CENTER<\n~lyric\n!LOUD ACTION\n\n"
    "@mcGee\nyo\n\nFADE TO:\n",
    ".FORCED HEADING\n\n...and then nothing.\n\nMARY (V.O.) (CONT'D)\nWords.\n\n"
    "> FORCED TRANSITION\n\n"
    "[[A note on its own line]]\n\nBOOM.\n\nI/E. CAR - MOVING\n\nLine one\nline two\n",
    "int. lowercase heading - day\n\nHANS (on the radio)\nCopy.\n\nSMASH CUT TO:\n\n"
    "EST. CITY - DAWN\n\nTHE END\n",
]


def _js_parse(tmp_path: Path, samples: list[str]) -> list[dict[str, object]]:
    esbuild = FRONTEND / "node_modules" / ".bin" / "esbuild"
    node = shutil.which("node")
    if node is None or not esbuild.exists():
        _missing("Node.js and frontend/node_modules are needed (cd frontend && npm ci)")
    assert node is not None
    bundle = tmp_path / "fountain.mjs"
    subprocess.run(
        [str(esbuild), "src/fountain.ts", "--bundle", "--format=esm", f"--outfile={bundle}"],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
    )
    script = tmp_path / "run.mjs"
    script.write_text(
        f"import {{ parse }} from {json.dumps(str(bundle))}\n"
        "const samples = JSON.parse(process.argv[2])\n"
        "console.log(JSON.stringify(samples.map((s) => parse(s))))\n"
    )
    out = subprocess.run(
        [node, str(script), json.dumps(samples)], check=True, capture_output=True, text=True
    )
    result: list[dict[str, object]] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("index", range(len(SAMPLES)))
def test_browser_parser_matches_server_parser(tmp_path: Path, index: int) -> None:
    sample = SAMPLES[index]
    js = _js_parse(tmp_path, [sample])[0]
    py = parse(sample)
    # The preview drops boneyard; everything else must classify the same way.
    expected = [(e.type, e.text) for e in py.elements if e.type != "boneyard"]
    elements = js["elements"]
    assert isinstance(elements, list)
    assert [(e["type"], e["text"]) for e in elements] == expected
    assert [tuple(pair) for pair in js["titlePage"]] == py.title_page  # type: ignore[attr-defined]
    scenes = js["scenes"]
    assert isinstance(scenes, list)
    assert [(s["heading"], s["start"]) for s in scenes] == [(s.heading, s.start) for s in py.scenes]

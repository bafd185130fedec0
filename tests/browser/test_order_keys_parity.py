"""The browser's order keys (frontend/src/order-keys.ts) are the server's (crdt/storyboard.py).

Both sides draw from a random source; here both get the same scripted draws, so every key
must come out identical, and both must agree on which strings are valid keys.
"""

import json
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crdt.storyboard import JITTER, key_between, valid_order_key
from tests.browser.conftest import FRONTEND, _missing


def _js(tmp_path: Path, cases: list[dict[str, Any]], probes: list[str]) -> dict[str, Any]:
    esbuild = FRONTEND / "node_modules" / ".bin" / "esbuild"
    node = shutil.which("node")
    if node is None or not esbuild.exists():
        _missing("Node.js and frontend/node_modules are needed (cd frontend && npm ci)")
    assert node is not None
    bundle = tmp_path / "order-keys.mjs"
    subprocess.run(
        [str(esbuild), "src/order-keys.ts", "--bundle", "--format=esm", f"--outfile={bundle}"],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
    )
    script = tmp_path / "run.mjs"
    script.write_text(
        f"import {{ keyBetween, validOrderKey }} from {json.dumps(str(bundle))}\n"
        "import { readFileSync } from 'node:fs'\n"
        "const { cases, probes } = JSON.parse(readFileSync(process.argv[2], 'utf8'))\n"
        "const keys = cases.map(({ a, b, draw }) => {\n"
        "  try { return keyBetween(a, b, () => draw) } catch (e) { return { error: true } }\n"
        "})\n"
        "console.log(JSON.stringify({ keys, valid: probes.map((p) => validOrderKey(p)) }))\n"
    )
    data = tmp_path / "cases.json"
    data.write_text(json.dumps({"cases": cases, "probes": probes}))
    out = subprocess.run([node, str(script), str(data)], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _fixed(draw: int) -> Callable[[int], int]:
    """A random source that always draws ``draw``."""
    return lambda _n: draw


def _py(a: str | None, b: str | None, draw: int) -> Any:
    try:
        return key_between(a, b, _fixed(draw))
    except ValueError:
        return {"error": True}


def _cases() -> list[dict[str, Any]]:
    rng = random.Random(24)
    draws = [0, 1, JITTER // 2, JITTER - 1]
    cases: list[dict[str, Any]] = []
    # Chains of appends and prepends (keys grow a digit now and then), with extreme draws.
    for draw in draws:
        key: str | None = None
        for _ in range(300):
            cases.append({"a": key, "b": None, "draw": draw})
            key = key_between(key, None, _fixed(draw))
        key = None
        for _ in range(300):
            cases.append({"a": None, "b": key, "draw": draw})
            key = key_between(None, key, _fixed(draw))
    # Repeated bisection towards one neighbour: long keys, up to the deepest gaps.
    low, high = "V", "W"
    for step in range(120):
        draw = draws[step % len(draws)]
        cases.append({"a": low, "b": high, "draw": draw})
        mid = key_between(low, high, _fixed(draw))
        low, high = (low, mid) if step % 2 else (mid, high)
    # Random pairs of random keys, including ones a digit apart and ones sharing prefixes.
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for _ in range(400):
        a = "".join(rng.choice(digits) for _ in range(rng.randint(1, 6))).rstrip("0") or "1"
        b = a[: rng.randint(0, len(a))] + rng.choice(digits[1:])
        if rng.random() < 0.3:
            b = a + rng.choice(digits[1:])
        lo, hi = sorted((a, b))
        cases.append({"a": lo, "b": hi, "draw": rng.randrange(JITTER)})
    # Not strictly increasing: both refuse.
    cases += [{"a": "V", "b": "V", "draw": 0}, {"a": "W", "b": "V", "draw": 0}]
    return cases


PROBES = [
    "",
    "0",
    "1",
    "V",
    "V0",
    "V01",
    "z" * 128,
    "z" * 129,
    "a-b",
    "é",
    "Zz",
    " 1",
    "1 ",
]


def test_browser_order_keys_match_server_keys(tmp_path: Path) -> None:
    cases = _cases()
    js = _js(tmp_path, cases, PROBES)
    expected = [_py(c["a"], c["b"], c["draw"]) for c in cases]
    mismatches = [
        (c, py, got) for c, py, got in zip(cases, expected, js["keys"], strict=True) if py != got
    ]
    assert mismatches == []
    assert js["valid"] == [valid_order_key(p) for p in PROBES]
    for case, key in zip(cases, expected, strict=True):
        if isinstance(key, str):
            assert valid_order_key(key)
            assert (case["a"] or "") < key and (case["b"] is None or key < case["b"])

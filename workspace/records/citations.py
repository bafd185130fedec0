"""Citation exports of a record: BibTeX, CSL-JSON, RIS and CITATION.cff.

Everything is built from the record's canonical JSON (what its id hashes), so an export
never says anything the record does not.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

FORMATS = {
    "bibtex": "application/x-bibtex; charset=utf-8",
    "csl-json": "application/vnd.citationstyles.csl+json",
    "ris": "application/x-research-info-systems; charset=utf-8",
    "cff": "application/x-yaml; charset=utf-8",
}

_CSL_TYPES = {
    "text": "document",
    "image": "graphic",
    "audio": "song",
    "video": "motion_picture",
    "script_snapshot": "manuscript",
    "storyboard_snapshot": "graphic",
}
_RIS_TYPES = {
    "text": "GEN",
    "image": "ART",
    "audio": "SOUND",
    "video": "VIDEO",
    "script_snapshot": "MANSCPT",
    "storyboard_snapshot": "ART",
}
_GENRES = {
    "script_snapshot": "Screenplay (Fountain)",
    "storyboard_snapshot": "Storyboard",
}


def _name_parts(name: str) -> dict[str, str]:
    parts = name.split()
    if len(parts) < 2:
        return {"literal": name}
    return {"family": parts[-1], "given": " ".join(parts[:-1])}


def _created(canonical: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(canonical["created"]).replace("Z", "+00:00"))


def _version(canonical: dict[str, Any]) -> str:
    version = canonical["version"]
    return str(version["label"] or version["number"])


def _key(rid: str) -> str:
    return "trp" + rid.rsplit(":", 1)[-1][:12]


def csl_json(canonical: dict[str, Any], rid: str, url: str) -> list[dict[str, Any]]:
    """One CSL-JSON item (a list, as CSL-JSON files are)."""
    created = _created(canonical)
    item: dict[str, Any] = {
        "id": rid,
        "type": _CSL_TYPES.get(canonical["kind"], "document"),
        "title": canonical["title"],
        "author": [_name_parts(a["name"]) for a in canonical["authors"]],
        "issued": {"date-parts": [[created.year, created.month, created.day]]},
        "URL": url,
        "version": _version(canonical),
        "publisher": "Troupe",
        "note": f"Licence: {canonical['licence']['id']} {canonical['licence']['version']}",
    }
    if canonical["description"]:
        item["abstract"] = canonical["description"]
    if canonical["kind"] in _GENRES:
        item["genre"] = _GENRES[canonical["kind"]]
    return [item]


_BIBTEX_SPECIAL = re.compile(r"([{}\\%&$#_^~])")


def _bib_escape(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        char = match.group(1)
        if char == "\\":
            return r"\textbackslash{}"
        if char in "{}":
            return "\\" + char
        if char == "^":
            return r"\^{}"
        if char == "~":
            return r"\~{}"
        return "\\" + char

    return _BIBTEX_SPECIAL.sub(repl, text)


def _bib_name(name: str) -> str:
    parts = _name_parts(name)
    if "literal" in parts:
        return "{" + _bib_escape(parts["literal"]) + "}"
    return f"{_bib_escape(parts['family'])}, {_bib_escape(parts['given'])}"


def bibtex(canonical: dict[str, Any], rid: str, url: str) -> str:
    """A ``@misc`` entry (with biblatex's ``version`` and ``date`` fields)."""
    created = _created(canonical)
    fields = [
        ("title", "{" + _bib_escape(canonical["title"]) + "}"),
        ("author", " and ".join(_bib_name(a["name"]) for a in canonical["authors"])),
        ("year", str(created.year)),
        ("month", str(created.month)),
        ("date", created.date().isoformat()),
        ("version", _bib_escape(_version(canonical))),
        ("publisher", "Troupe"),
        ("howpublished", "\\url{" + url + "}"),
        ("url", url),
        ("note", _bib_escape(f"Record {rid}")),
    ]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{_key(rid)},\n{body}\n}}\n"


def ris(canonical: dict[str, Any], rid: str, url: str) -> str:
    """An RIS record (CRLF line ends, as the format specifies)."""
    created = _created(canonical)
    lines = [f"TY  - {_RIS_TYPES.get(canonical['kind'], 'GEN')}", f"TI  - {canonical['title']}"]
    for author in canonical["authors"]:
        parts = _name_parts(author["name"])
        lines.append(
            f"AU  - {parts['literal']}"
            if "literal" in parts
            else f"AU  - {parts['family']}, {parts['given']}"
        )
    lines += [
        f"PY  - {created.year}",
        f"DA  - {created.strftime('%Y/%m/%d')}",
        f"ET  - {_version(canonical)}",
        "PB  - Troupe",
        f"UR  - {url}",
        f"ID  - {rid}",
    ]
    if canonical["description"]:
        lines.append(f"AB  - {' '.join(canonical['description'].split())}")
    lines.append("ER  - ")
    return "\r\n".join(lines) + "\r\n"


def _yaml_str(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(value, ensure_ascii=False)


def cff(canonical: dict[str, Any], rid: str, url: str) -> str:
    """A CITATION.cff (Citation File Format 1.2.0)."""
    created = _created(canonical)
    lines = [
        'cff-version: "1.2.0"',
        'message: "If you use this work, please cite it as below."',
        f"title: {_yaml_str(canonical['title'])}",
        "authors:",
    ]
    for author in canonical["authors"]:
        parts = _name_parts(author["name"])
        if "literal" in parts:
            lines.append(f"  - name: {_yaml_str(parts['literal'])}")
        else:
            lines.append(f"  - family-names: {_yaml_str(parts['family'])}")
            lines.append(f"    given-names: {_yaml_str(parts['given'])}")
        lines.append(f"    alias: {_yaml_str(author['username'])}")
    lines += [
        f"version: {_yaml_str(_version(canonical))}",
        f"date-released: {_yaml_str(created.date().isoformat())}",
        f"url: {_yaml_str(url)}",
        "identifiers:",
        "  - type: other",
        f"    value: {_yaml_str(rid)}",
        '    description: "Troupe record id (SHA-256 of the canonical record JSON)"',
        "keywords:",
        f"  - {_yaml_str(canonical['kind'])}",
    ]
    if canonical["description"]:
        lines.append(f"abstract: {_yaml_str(canonical['description'])}")
    return "\n".join(lines) + "\n"


def cite(fmt: str, canonical: dict[str, Any], rid: str, url: str) -> str:
    """The citation of a record in ``fmt`` (one of ``FORMATS``)."""
    if fmt == "bibtex":
        return bibtex(canonical, rid, url)
    if fmt == "csl-json":
        return json.dumps(csl_json(canonical, rid, url), ensure_ascii=False, indent=2)
    if fmt == "ris":
        return ris(canonical, rid, url)
    if fmt == "cff":
        return cff(canonical, rid, url)
    raise ValueError(f"format must be one of {sorted(FORMATS)}")

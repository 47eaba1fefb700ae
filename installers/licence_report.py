"""Rendering of THIRD_PARTY_LICENSES.txt and its Markdown summary, and the copyleft check that
puts GPL components at the top (the product may become commercial)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Copyleft = Literal["GPL", "LGPL"]
_STRENGTH: dict[Copyleft | None, int] = {None: 0, "LGPL": 1, "GPL": 2}
_LGPL = re.compile(r"\bLGPL|LESSER GENERAL|LIBRARY GENERAL", re.IGNORECASE)
_GPL = re.compile(r"\bA?GPL|GENERAL PUBLIC LICEN[CS]E", re.IGNORECASE)
_EXCEPTION = re.compile(r"\bWITH\b|EXCEPTION", re.IGNORECASE)


@dataclass(frozen=True)
class LicenceText:
    source: str  # which file of which component, e.g. "numpy 2.4.6: .../LICENSE.txt"
    text: str


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    licence: str
    note: str = ""
    texts: tuple[LicenceText, ...] = ()


def _term_copyleft(term: str) -> Copyleft | None:
    if _EXCEPTION.search(term):
        return None  # GPL with a linking exception (GCC runtime, PyInstaller bootloader)
    if _LGPL.search(term):
        return "LGPL"
    if _GPL.search(term):
        return "GPL"
    return None


def copyleft(licence: str) -> Copyleft | None:
    """The copyleft that binds a user of the component: the weakest of OR alternatives, the
    strongest of AND parts ("LGPL-3.0-or-later OR GPL-2.0-or-later" -> LGPL)."""
    alternatives = []
    for alternative in re.split(r"\s+OR\s+", licence):
        parts = [_term_copyleft(part) for part in re.split(r"\s+AND\s+|;\s*", alternative)]
        alternatives.append(max(parts, key=_STRENGTH.__getitem__))
    return min(alternatives, key=_STRENGTH.__getitem__)


def _label(component: Component) -> str:
    return f"{component.name} {component.version}".strip()


def _flag_lines(components: Sequence[Component], unlisted: Sequence[str]) -> list[str]:
    gpl = [c for c in components if copyleft(c.licence) == "GPL"]
    lgpl = [c for c in components if copyleft(c.licence) == "LGPL"]
    lines = []
    if gpl:
        lines += [
            "!! GPL COMPONENTS: distributing the bundle with these obliges the whole program",
            "!! to be offered under GPL terms; a closed or commercial product needs legal",
            "!! review or their replacement:",
            *(f"!!   - {_label(c)}: {c.licence}. {c.note}".rstrip() for c in gpl),
            "",
        ]
    if lgpl:
        lines += [
            "LGPL components (they must stay separate, replaceable shared libraries, and their",
            "source must be obtainable):",
            *(f"  - {_label(c)}: {c.licence}" for c in lgpl),
            "",
        ]
    missing = [c for c in components if not c.texts]
    if missing:
        lines += [
            "No licence text was found for these; add one before distributing:",
            *(f"  - {_label(c)}: {c.licence}" for c in missing),
            "",
        ]
    if unlisted:
        lines += [
            "Native libraries found in the bundle without a licence entry (review them):",
            *(f"  - {library}" for library in unlisted),
            "",
        ]
    return lines


def _table(components: Sequence[Component]) -> list[str]:
    rows = [
        ("component", "version", "licence"),
        *((c.name, c.version, c.licence) for c in components),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}".rstrip() for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return lines


def _text_sections(components: Sequence[Component]) -> list[str]:
    lines: list[str] = []
    seen: dict[str, str] = {}  # text digest -> the source printed first
    for component in components:
        lines += ["", "=" * 78, f"{_label(component)} -- {component.licence}"]
        if component.note:
            lines.append(component.note)
        lines.append("=" * 78)
        if not component.texts:
            lines.append("(no licence text found; see the notice at the top)")
        for text in component.texts:
            digest = hashlib.sha256(text.text.encode()).hexdigest()
            if digest in seen:
                lines += ["", f"--- {text.source}: same text as {seen[digest]}"]
                continue
            seen[digest] = text.source
            lines += ["", f"--- {text.source}", "", text.text.rstrip()]
    return lines


def render_text(components: Sequence[Component], unlisted: Sequence[str] = ()) -> str:
    lines = [
        "THIRD-PARTY SOFTWARE IN VOICE-SIDECAR",
        "",
        "The voice-sidecar bundle contains the components below, each under its own licence.",
        "Generated at build time by `python -m installers.licences` from the bundle itself.",
        "",
        *_flag_lines(components, unlisted),
        *_table(components),
        *_text_sections(components),
    ]
    return "\n".join(lines) + "\n"


def render_markdown(components: Sequence[Component]) -> str:
    gpl = [c for c in components if copyleft(c.licence) == "GPL"]
    lines = ["# Third-party components in the voice-sidecar bundle", ""]
    if gpl:
        lines += ["**GPL components** (legal review before a closed or commercial release):", ""]
        lines += [f"- **{_label(c)}**: {c.licence}" for c in gpl] + [""]
    lines += ["| component | version | licence | note |", "| --- | --- | --- | --- |"]
    for c in components:
        cells = (c.name, c.version, c.licence, c.note)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"

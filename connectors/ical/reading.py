"""Reading an object's text tolerantly: decoding, unfolding, repairing writer mistakes, setting
VTIMEZONE blocks apart, and parsing with icalendar what can be parsed.

Real-world objects are often broken: a broken line or component is dropped with a log line and
the rest is kept. Only an object with nothing readable in it raises `MalformedObject`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import icalendar
from icalendar.parser import Contentlines

from connectors.ical.values import (
    _DT_NAMES,
    MalformedObject,
    _line_name,
    _line_value,
    _tz_key,
    _unescape_text,
    _warn_once,
)
from connectors.ical.zones import _apply_zones, _Zones

log = logging.getLogger("connectors.ical")




def _decode(raw: bytes | str) -> str:
    """Text of the object: UTF-8, or line by line Windows-1252/Latin-1 where UTF-8 fails."""
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = "\n".join(_decode_line(line) for line in raw.split(b"\n"))
    return text.lstrip("\ufeff \t\r\n")


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return line.decode("cp1252")
        except UnicodeDecodeError:
            return line.decode("latin-1")


@dataclass
class _Text:
    """The object's content lines, split into icalendar's input and its VTIMEZONE blocks."""

    body: list[str] = field(default_factory=list)
    zones: dict[str, list[str]] = field(default_factory=dict)


def _scan(text: str) -> _Text:
    """Unfold, drop what cannot be a content line, set VTIMEZONE blocks apart, close what is open.

    VTIMEZONE blocks never reach icalendar's parser: it would cache them process-wide.
    """
    out = _Text()
    stack: list[str] = []
    zone: list[str] | None = None
    depth = 0
    for line in Contentlines.from_ical(text):  # type: ignore[no-untyped-call]
        if not line.strip():
            continue
        name = _line_name(line)
        if zone is not None:
            zone.append(line)
            depth += {"BEGIN": 1, "END": -1}.get(name, 0)
            if depth == 0:
                _keep_zone(out, zone)
                zone = None
            continue
        if name == "BEGIN":
            component = _line_value(line).upper()
            if component == "VTIMEZONE":
                zone, depth = [line], 1
                continue
            stack.append(component)
            out.body.append(line)
        elif name == "END":
            component = _line_value(line).upper()
            if component not in stack:
                continue  # END of something never begun: drop it
            while stack[-1] != component:  # close what the writer forgot to close
                out.body.append("END:" + stack.pop())
            stack.pop()
            out.body.append(line)
        elif stack and ":" in line and not line[0].isspace():
            out.body.append(_repair_params(line))
        # else: a stray line, or a property outside any component: dropped
    if zone is not None:
        _keep_zone(out, zone)
    out.body.extend("END:" + name for name in reversed(stack))
    return out


def _repair_params(line: str) -> str:
    """Mend writer mistakes in a property line.

    An empty parameter ('DTSTART;;VALUE=DATE-TIME:...') is dropped; a value quoted together with
    its parameter ('DTSTART;TZID="W. Europe Standard Time:20200609T090000"') is moved out; an
    ISO 8601 date ('2023-07-01T125700') loses its separators.
    """
    if '"' not in line:
        head, colon, rest = line.partition(":")
    else:
        quoted = False
        for i, char in enumerate(line):
            if char == '"':
                quoted = not quoted
            elif char == ":" and not quoted:
                head, colon, rest = line[:i], ":", line[i + 1 :]
                break
        else:
            if line.endswith('"') and ":" in line:
                cut = line.rindex(":")
                return _repair_params(f'{line[:cut]}"{line[cut:-1]}')
            return line
    if ";;" in head:
        head = re.sub(r";;+", ";", head).rstrip(";")
    name = _line_name(head)
    if colon and name in _DT_NAMES and ":" in rest and "TZID=" in head.upper():
        # An unquoted TZID with a colon ('TZID=tzone://Microsoft/Custom:2021...'): quote it.
        whole, _, value = (head + colon + rest).rpartition(":")
        if _DATES.fullmatch(value):
            head = re.sub(r'(?i)(TZID=)([^;"]*)', r'\1"\2"', whole)
            rest = value
    if colon and name in _ISO_DATED:
        rest = _ISO_DATE.sub(lambda m: "".join(g or "" for g in m.groups()), rest)
    return head + colon + rest


_DATES = re.compile(r"[0-9TZ]{8,16}(,[0-9TZ]{8,16})*")
_ISO_DATED = frozenset({*_DT_NAMES, "DTSTAMP", "CREATED", "LAST-MODIFIED"})
# '2023-07-01T125700' (Deutsche Bahn) or '2023-07-01T12:57:00Z' read as '20230701T125700'.
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:(T\d{2}):?(\d{2}):?(\d{2})(Z?))?$")


def _keep_zone(out: _Text, block: list[str]) -> None:
    for line in block[1:]:
        if _line_name(line) == "TZID":
            out.zones.setdefault(_tz_key(_unescape_text(_line_value(line))), block)
            return





def _parse_lines(lines: Sequence[str]) -> list[icalendar.Component]:
    return list(icalendar.Calendar.from_ical("\r\n".join(lines) + "\r\n", multiple=True))


def _blocks(lines: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Own property lines and child blocks of the component `lines` spans (BEGIN..END)."""
    props: list[str] = []
    children: list[list[str]] = []
    depth = 0
    for line in lines[1:-1]:
        name = _line_name(line)
        if depth == 0 and name != "BEGIN":
            props.append(line)
            continue
        if depth == 0:
            children.append([])
        children[-1].append(line)
        depth += {"BEGIN": 1, "END": -1}.get(name, 0)
    return props, children


def _salvage(lines: list[str]) -> icalendar.Component | None:
    """Parse one component, dropping the lines and children that break it."""
    try:
        return _parse_lines(lines)[0]
    except Exception:  # icalendar raises ValueError, TypeError, KeyError...
        pass
    head, tail = lines[0], lines[-1]
    props, children = _blocks(lines)
    kept: list[str] = []
    for line in props:
        try:
            _parse_lines([head, line, tail])
        except Exception:
            log.info("Dropped an unreadable line in %s: %.80r", _line_value(head), line)
            continue
        kept.append(line)
    try:
        component = _parse_lines([head, *kept, tail])[0]
    except Exception as error:
        log.warning("Dropped an unreadable %s: %s", _line_value(head), error)
        return None
    for child in children:
        parsed = _salvage(child)
        if parsed is None:
            uid = next((_line_value(x) for x in child if _line_name(x) == "UID"), "")
            _warn_once(
                ("component", uid, _line_value(child[0])),
                "Skipped an unreadable %s (UID %r)",
                _line_value(child[0]),
                uid,
            )
        else:
            component.add_component(parsed)
    return component


def _top_blocks(body: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    depth = 0
    for line in body:
        name = _line_name(line)
        if depth == 0:
            blocks.append([])
        blocks[-1].append(line)
        depth += {"BEGIN": 1, "END": -1}.get(name, 0)
    return blocks


def parse_calendar(raw: bytes | str) -> icalendar.Calendar:
    """Read one object tolerantly into a single calendar (several VCALENDARs are merged).

    Values with a TZID that resolves to nothing are left naive (see `untrusted_tzids`).
    Raises MalformedObject when nothing in it can be read.
    """
    scanned = _scan(_decode(raw))
    if not scanned.body:
        raise MalformedObject("no iCalendar component found (no BEGIN:VCALENDAR or BEGIN:VEVENT)")
    try:
        components = _parse_lines(scanned.body)
    except Exception as error:
        log.info("Reading the object line by line after: %s", error)
        salvaged = (_salvage(block) for block in _top_blocks(scanned.body))
        components = [c for c in salvaged if c is not None]
    if not components:
        raise MalformedObject("no readable iCalendar component in the object")
    calendars = [c for c in components if isinstance(c, icalendar.Calendar)]
    merged = calendars[0] if calendars else icalendar.Calendar()
    for other in calendars[1:]:
        merged.subcomponents.extend(other.subcomponents)
    merged.subcomponents.extend(c for c in components if not isinstance(c, icalendar.Calendar))
    _apply_zones(merged, _Zones(scanned.zones))
    return merged

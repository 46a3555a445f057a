"""`frontdesk init`: a few questions, then a commented configuration and its password files.

Each question has a flag, so init runs unattended; a question without its flag is asked on the
terminal, or read as the next line of standard input when that is not a terminal (an empty line
takes the default). Every answer is checked by the schema's own parser as it is given. The file
is written from the schema (daemon/schema.py): every key, the answered ones set, the others
commented out with their default and their one line of documentation. Nothing is overwritten.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from daemon.config import SYSTEM_CONFIG_DIR, default_state_dir
from daemon.errors import EX_USAGE, UserError
from daemon.schema import (
    DEFAULT_PORTS,
    KEYS,
    SECTIONS,
    Address,
    Context,
    DayRanges,
    Derived,
    Invalid,
    Key,
    Kind,
    Url,
    Weekday,
    is_loopback,
    show,
)
from daemon.schema import TimeZone as TimeZoneKind
from rules.model import LANGUAGES, WEEKDAYS

EX_CANTCREAT = 73  # sysexits.h: an output file cannot be created (here: it already exists)
COMMENT_COLUMN = 41
WORKDAYS = "monday tuesday wednesday thursday friday"
WORKHOURS = "09:00-12:00 13:00-17:00"


@dataclass(frozen=True)
class Question:
    flag: str  # the option's dest, e.g. "calendar_url" for --calendar-url
    prompt: str
    check: Callable[[str], str]  # the answer as it is kept; raises Invalid with a sentence
    default: Callable[[Mapping[str, str]], str | None] = lambda answers: None
    secret: bool = False
    asked: Callable[[Mapping[str, str]], bool] = lambda answers: True


def _parse(kind: Kind, value: object, where: str) -> Any:
    ctx = Context(None, {})
    value = kind.parse(value, where, ctx)
    if ctx.problems:
        raise Invalid(ctx.problems[0].split(": ", 1)[1])
    return value


def _nonempty(text: str) -> str:
    if not text.strip():
        raise Invalid("an answer is needed")
    return text.strip()


def _address(text: str) -> str:
    return str(_parse(Address(), text, "email"))


def _zone(text: str) -> str:
    return str(_parse(TimeZoneKind(), text.strip(), "timezone"))


def _language(text: str) -> str:
    if text.strip() not in LANGUAGES:
        raise Invalid(f'{show(text.strip())} must be "fr" or "en"')
    return text.strip()


def _days(text: str) -> str:
    names = [d for d in re.split(r"[\s,]+", text.strip().lower()) if d]
    out = []
    for name in names:
        full = next((d for d in WEEKDAYS if d.startswith(name) and len(name) >= 3), name)
        out.append(WEEKDAYS[_parse(Weekday(), full, "days")])
    if not out:
        raise Invalid("name at least one working day, e.g. monday")
    return " ".join(sorted(set(out), key=WEEKDAYS.index))


def _hours(text: str) -> str:
    ranges = [r for r in re.split(r"[\s,]+", text.strip()) if r]
    _parse(DayRanges(), ranges, "hours")
    if not ranges:
        raise Invalid('give at least one range like "09:00-17:00"')
    return " ".join(ranges)


def _url(text: str) -> str:
    return str(_parse(Url(), text.strip(), "calendar.url"))


def _host(text: str) -> str:
    """host or host:port; "" for none."""
    text = text.strip()
    if text and not re.match(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$",
                             text):
        raise Invalid(f"{show(text)} is not a host name, or host:port")
    return text


def _any(text: str) -> str:
    return text.strip()


def _system_zone() -> str | None:
    zone = os.environ.get("TZ", "").lstrip(":")
    if not zone:
        with contextlib.suppress(OSError):
            target = os.readlink("/etc/localtime")
            zone = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
    try:
        return _zone(zone) if zone else None
    except Invalid:
        return None


def _smtp_default(answers: Mapping[str, str]) -> str | None:
    host = answers.get("imap_host", "").split(":")[0]
    return re.sub(r"^imap\.", "smtp.", host) or None


QUESTIONS = (
    Question("name", "Your name (signs every reply)", _nonempty),
    Question("email", "Your email address", _address),
    Question("timezone", "Your time zone (IANA name, e.g. Europe/Paris)", _zone,
             lambda a: _system_zone()),
    Question("language", "Language of your replies (fr or en)", _language,
             lambda a: "fr" if os.environ.get("LANG", "").startswith("fr") else "en"),
    Question("days", "Working days", _days, lambda a: WORKDAYS),
    Question("hours", "Working hours on those days", _hours, lambda a: WORKHOURS),
    Question("calendar_url", "CalDAV calendar URL (https://...)", _url),
    Question("calendar_username", "CalDAV login name", _any, lambda a: a.get("email")),
    Question("caldav_password", "CalDAV password (empty: none)", _any, lambda a: "",
             secret=True),
    Question("imap_host", "IMAP server, host or host:port (empty: frontdesk reads no mail)",
             _host, lambda a: ""),
    Question("smtp_host", "SMTP server, host or host:port", _host, _smtp_default,
             asked=lambda a: bool(a.get("imap_host"))),
    Question("mail_password", "Mail password (empty: none)", _any, lambda a: "", secret=True,
             asked=lambda a: bool(a.get("imap_host"))),
)


class Answers:
    """Asks what the flags did not answer: on the terminal, or line by line from stdin."""

    def __init__(self, given: Mapping[str, str | None], stdin: TextIO, out: TextIO) -> None:
        self.given = given
        self.stdin = stdin
        self.out = out
        self.interactive = stdin.isatty()

    def _line(self, question: Question, default: str | None) -> str | None:
        if not self.interactive:
            line = self.stdin.readline()
            return None if line == "" else line.rstrip("\r\n")
        shown = "" if question.secret or default in (None, "") else f" [{default}]"
        if question.secret:
            return getpass.getpass(f"{question.prompt}: ", stream=self.out)
        self.out.write(f"{question.prompt}{shown}: ")
        self.out.flush()
        line = self.stdin.readline()
        return None if line == "" else line.rstrip("\r\n")

    def collect(self) -> dict[str, str]:
        answers: dict[str, str] = {}
        for q in QUESTIONS:
            if not q.asked(answers):
                continue
            default = q.default(answers)
            flag = "--" + q.flag.replace("_", "-")
            if self.given.get(q.flag) is not None:
                try:
                    answers[q.flag] = q.check(str(self.given[q.flag]))
                except Invalid as exc:
                    raise UserError(f"{flag}: {exc}", EX_USAGE) from None
                continue
            while True:
                text = self._line(q, default)
                if text is None or text == "":
                    if default is None:
                        if self.interactive and text is not None:
                            self.out.write("  an answer is needed\n")
                            continue
                        raise UserError(f"no answer for “{q.prompt}”: give {flag}", EX_USAGE)
                    text = default
                try:
                    answers[q.flag] = q.check(text)
                    break
                except Invalid as exc:
                    if not self.interactive:
                        raise UserError(f"{flag}: {exc}", EX_USAGE) from None
                    self.out.write(f"  {exc}\n")
        return answers


# --- Writing -------------------------------------------------------------------------------------


def secret_names(config: Path) -> tuple[str, str]:
    """The password files' names beside `config`: caldav-password and mail-password beside
    frontdesk.toml; NAME.caldav-password and NAME.mail-password beside NAME.toml (the names the
    units hand over as credentials)."""
    prefix = "" if config.stem == "frontdesk" else f"{config.stem}."
    return f"{prefix}caldav-password", f"{prefix}mail-password"


def default_target(environ: Mapping[str, str]) -> Path:
    if environ.get("FRONTDESK_CONFIG"):
        return Path(environ["FRONTDESK_CONFIG"]).expanduser()
    if os.geteuid() == 0:
        return SYSTEM_CONFIG_DIR / "frontdesk.toml"
    home = Path(environ.get("HOME", "~")).expanduser()
    return Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "frontdesk" / "frontdesk.toml"


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _line(assignment: str, doc: str) -> str:
    return f"{assignment:<{COMMENT_COLUMN - 1}} # {doc}" if doc else assignment


def _host_port(text: str) -> tuple[str, int | None]:
    parts = urlsplit(f"//{text}")
    return parts.hostname or text, parts.port


def config_values(answers: Mapping[str, str], options: Mapping[str, str | None],
                  config: Path) -> dict[str, object]:
    """ "section.key" -> value for every key the answers and flags set."""
    days = answers["days"].split()
    values: dict[str, object] = {
        "freelancer.name": answers["name"],
        "freelancer.email": answers["email"],
        "freelancer.timezone": answers["timezone"],
        "freelancer.language": answers["language"],
        "calendar.url": answers["calendar_url"],
        "calendar.username": answers["calendar_username"],
    }
    caldav_file, mail_file = secret_names(config)
    if answers.get("caldav_password"):
        values["calendar.password_file"] = caldav_file
    for day in days:
        values[f"hours.{day}"] = answers["hours"].split()
    if answers.get("imap_host"):
        for proto in ("imap", "smtp"):
            host, port = _host_port(answers[f"{proto}_host"])
            security = options.get(f"{proto}_security") or "tls"
            values[f"mail.{proto}_host"] = host
            values[f"mail.{proto}_security"] = security
            values[f"mail.{proto}_port"] = port or DEFAULT_PORTS[proto][security]
        values["mail.username"] = options.get("mail_username") or answers["email"]
        if answers.get("mail_password"):
            values["mail.password_file"] = mail_file
    return values


def _commented(key: Key, config: Path, values: Mapping[str, object]) -> str:
    if key.path == "daemon.state_dir":
        env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
        return toml_value(str(default_state_dir(config, env)[0]))
    if key.name == "password_file":
        return toml_value(secret_names(config)[key.section == "mail"])
    if key.section == "hours" and key.name in WEEKDAYS:
        return "[]"
    if key.example is not None:
        return toml_value(key.example)
    if isinstance(key.default, Derived):
        # computed as validation would: from the plain defaults and what is written
        ctx = Context(config, {})
        ctx.values.update({k.path: k.default for k in KEYS if not isinstance(k.default, Derived)})
        ctx.values.update(values)
        return toml_value(key.default.compute(ctx))
    if key.default is None:
        return '""'
    return toml_value(key.default)


def render(values: Mapping[str, object], config: Path) -> str:
    """The configuration file: every key of the schema, the set ones written, the others
    commented out with their default; one line of documentation each."""
    lines = [
        "# frontdesk: your rules, in one file. Written by `frontdesk init`; every key is",
        "# documented on its line, a commented-out key shows its default. After a change, run",
        "# `frontdesk check` (and restart or reload the service). README: \"Configuration\".",
    ]
    has_mail = any(k.startswith("mail.") for k in values)
    for section in SECTIONS:
        keys = [k for k in KEYS if k.section == section.name]
        lines.append("")
        off = (section.name == "mail" and not has_mail) or section.array
        header = f"[[{section.name}]]" if section.array else f"[{section.name}]"
        lines.append(_line(("# " if off else "") + header, section.doc))
        for key in keys:
            doc = ("required: " if key.required else "") + key.doc
            if key.path in values and not off:
                lines.append(_line(f"{key.name} = {toml_value(values[key.path])}", doc))
            else:
                lines.append(_line(f"# {key.name} = {_commented(key, config, values)}", doc))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Written:
    config: Path
    secrets: tuple[Path, ...]


def _create(path: Path, text: str) -> None:
    """Write a new file, mode 600; never replace one (O_EXCL)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def write(config: Path, answers: Mapping[str, str], options: Mapping[str, str | None]) -> Written:
    caldav_file, mail_file = secret_names(config)
    secrets = [(config.parent / caldav_file, answers.get("caldav_password", "")),
               (config.parent / mail_file, answers.get("mail_password", ""))]
    secrets = [(p, s) for p, s in secrets if s]
    for path in (config, *(p for p, _ in secrets)):
        if path.exists():
            raise UserError(f"{path} already exists; init does not overwrite: edit it (README: "
                            "Configuration), or move it away first", EX_CANTCREAT)
    text = render(config_values(answers, options, config), config)
    try:
        config.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create(config, text)
        for path, secret in secrets:
            _create(path, secret + "\n")
    except FileExistsError as exc:
        raise UserError(f"{exc.filename} already exists; init does not overwrite",
                        EX_CANTCREAT) from None
    except OSError as exc:
        raise UserError(f"cannot write {exc.filename or config}: {exc.strerror or exc}",
                        EX_CANTCREAT) from None
    return Written(config, tuple(p for p, _ in secrets))


def run_init(target: Path, options: Mapping[str, str | None], stdin: TextIO = sys.stdin,
             out: TextIO = sys.stderr) -> Written:
    answers = Answers(options, stdin, out).collect()
    for proto in ("imap", "smtp"):
        host = _host_port(answers.get(f"{proto}_host", ""))[0]
        if host and not is_loopback(host) and options.get(f"{proto}_security") == "none":
            raise UserError(f'--{proto}-security none: only to a loopback host, not "{host}"',
                            EX_USAGE)
    return write(target, answers, options)

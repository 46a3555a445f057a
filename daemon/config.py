"""The configuration file: found, read, validated once into frozen objects.

Every problem is collected and reported at once, each naming its key path and value; nothing is
half-loaded. daemon/schema.py is the one place that knows the keys, their types and defaults;
this module finds the file, decides where the service keeps its state, checks what involves
several keys, and builds the records the rest of the code reads.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from daemon.schema import (
    DEFAULT_PORTS,
    LOG_LEVELS,
    MIB,
    Context,
    Secret,
    is_loopback,
    read_secret,
    validate,
)
from rules.model import (
    WEEKDAYS,
    BookingPolicy,
    ClientsPolicy,
    Freelancer,
    Hours,
    InvitePolicy,
    Limits,
    Policy,
    Service,
    Terms,
)

__all__ = [
    "DEFAULT_PORTS",
    "LOG_LEVELS",
    "CalendarSettings",
    "Config",
    "ConfigError",
    "DaemonSettings",
    "MailSettings",
    "Secret",
    "candidate_paths",
    "default_state_dir",
    "find_config",
    "is_loopback",
    "load_config",
    "parse_config",
]

# Where the system units read their configuration (see systemd/frontdesk.service)
SYSTEM_CONFIG_DIR = Path("/etc/frontdesk")
SYSTEM_STATE_ROOT = Path("/var/lib")
CREDENTIAL_NAME = "frontdesk.toml"  # the unit hands the file over as this credential


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason, one sentence each."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f"configuration {path}" if path else "configuration"
        super().__init__(f"{where}: " + "; ".join(problems))

    def render(self) -> str:
        where = str(self.path) if self.path else "the configuration"
        count = len(self.problems)
        head = f"frontdesk: {where} has {count} problem{'s' if count != 1 else ''}:"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


@dataclass(frozen=True)
class CalendarSettings:
    url: str
    username: str
    password: Secret | None
    busy_urls: tuple[str, ...] = ()
    poll_seconds: int = 60


@dataclass(frozen=True)
class MailSettings:
    imap_host: str
    imap_port: int
    imap_security: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    username: str
    password: Secret | None
    inbox: str = "INBOX"
    sent_folder: str = "Sent"
    drafts_folder: str = "Drafts"
    mode: str = "send"
    # authserv-ids (lower-cased) whose Authentication-Results headers are trusted (RFC 8601)
    authserv_ids: tuple[str, ...] = ()
    max_message_bytes: int = 25 * MIB  # bigger messages are read headers-only


@dataclass(frozen=True)
class DaemonSettings:
    state_dir: Path  # the state of the service this configuration runs (default_state_dir)
    log_level: str = "info"
    templates_dir: Path | None = None
    state_dir_from: str = "daemon.state_dir"  # why that folder, in words, for `check`


@dataclass(frozen=True)
class Config:
    path: Path | None
    policy: Policy
    calendar: CalendarSettings
    mail: MailSettings | None
    daemon: DaemonSettings
    warnings: tuple[str, ...] = field(default=())


# --- Finding the file ----------------------------------------------------------------------------


def candidate_paths(explicit: str | None, environ: Mapping[str, str]) -> list[Path]:
    """Where the configuration is looked for, in order: --config, $FRONTDESK_CONFIG, the
    credential a systemd unit hands over, the user's file, the system's file."""
    if explicit:
        return [Path(explicit).expanduser()]
    if environ.get("FRONTDESK_CONFIG"):
        return [Path(environ["FRONTDESK_CONFIG"]).expanduser()]
    home = Path(environ.get("HOME", "~")).expanduser()
    xdg = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    found = [xdg / "frontdesk" / "frontdesk.toml", SYSTEM_CONFIG_DIR / "frontdesk.toml"]
    if environ.get("CREDENTIALS_DIRECTORY"):
        found.insert(0, Path(environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME)
    return found


def find_config(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    paths = candidate_paths(explicit, env)
    for path in paths:
        if path.is_file():
            return path
    if explicit or env.get("FRONTDESK_CONFIG"):
        raise ConfigError(paths[0], [f"the file {paths[0]} does not exist or is not readable "
                                     f"(`frontdesk init --config {paths[0]}` writes one)"])
    looked = ", ".join(str(p) for p in paths)
    raise ConfigError(None, [f"no configuration file found (looked at {looked}); "
                             "run `frontdesk init` to write one, or start from "
                             "systemd/frontdesk.example.toml in frontdesk's source; "
                             "then pass --config PATH or set FRONTDESK_CONFIG if it lives "
                             "elsewhere"])


def load_config(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    path = find_config(explicit, env)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read the file: {exc}"]) from None
    return parse_config(text, path=path, environ=env)


# --- Where the service keeps its state -----------------------------------------------------------


def default_state_dir(path: Path | None, environ: Mapping[str, str]) -> tuple[Path, str]:
    """The state folder of the service that the configuration at `path` runs, and why, when
    daemon.state_dir does not say: what systemd set ($STATE_DIRECTORY), else the StateDirectory=
    of the unit that reads that file (/etc/frontdesk/frontdesk.toml: frontdesk.service's
    /var/lib/frontdesk; /etc/frontdesk/NAME.toml: frontdesk@NAME's /var/lib/frontdesk-NAME),
    else the user unit's ($XDG_STATE_HOME/frontdesk, ~/.local/state/frontdesk). So `status`,
    `slots` and `explain` run by hand with the same file find the service's state."""
    given = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if given:
        return Path(given), "$STATE_DIRECTORY, set by systemd"
    if path is not None:
        where = Path(os.path.abspath(path))
        if where.parent == SYSTEM_CONFIG_DIR and where.suffix == ".toml":
            if where.stem == "frontdesk":
                return (SYSTEM_STATE_ROOT / "frontdesk",
                        f"the StateDirectory of frontdesk.service, which reads {where}")
            return (SYSTEM_STATE_ROOT / f"frontdesk-{where.stem}",
                    f"the StateDirectory of frontdesk@{where.stem}.service, which reads {where}")
    home = Path(environ.get("HOME", "~")).expanduser()
    state = Path(environ.get("XDG_STATE_HOME") or home / ".local" / "state")
    return state / "frontdesk", "the StateDirectory of the user unit (systemctl --user)"


# --- Reading it ----------------------------------------------------------------------------------


def parse_config(text: str, *, path: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    ctx = Context(path, env)
    entries = validate(data, ctx)
    config = _build(ctx, entries, has_mail="mail" in data)
    if ctx.problems:
        raise ConfigError(path, ctx.problems)
    return config


def _build(ctx: Context, entries: dict[str, list[dict[str, Any]]], *, has_mail: bool) -> Config:
    """The records, from the schema's values; checks that involve several keys report here."""
    v = ctx.values
    freelancer = Freelancer(v["freelancer.name"] or "", v["freelancer.email"] or "",
                            v["freelancer.aliases"], v["freelancer.timezone"] or "UTC",
                            v["freelancer.language"])
    hours = _hours(ctx)
    booking = BookingPolicy(**_section(v, "booking"))
    for day in booking.new_client_days:
        if day not in hours.week and hours.week:
            ctx.warn("booking.new_client_days", f"{WEEKDAYS[day]} is not a working day in "
                     "[hours]: no time is offered on it")
    terms = Terms(**_section(v, "terms"))
    services = tuple(Service(e["name"], e["minutes"], e["price"]) for e in entries["services"])
    policy = Policy(freelancer=freelancer, hours=hours, booking=booking,
                    invites=InvitePolicy(**_section(v, "invites")), terms=terms,
                    services=services, clients=ClientsPolicy(**_section(v, "clients")),
                    limits=Limits(**_section(v, "limits")))
    calendar = _calendar(ctx)
    mail = _mail(ctx) if has_mail else None
    return Config(ctx.path, policy, calendar, mail, _daemon(ctx), tuple(ctx.warnings))


def _section(values: Mapping[str, Any], section: str) -> dict[str, Any]:
    prefix = f"{section}."
    return {k[len(prefix):]: value for k, value in values.items() if k.startswith(prefix)}


def _hours(ctx: Context) -> Hours:
    week = {i: ranges for i, day in enumerate(WEEKDAYS) if (ranges := ctx.values[f"hours.{day}"])}
    if "hours" in ctx.sections and not week and not ctx.has_problem("hours"):
        ctx.error("hours", 'no working day is set (add e.g. monday = ["09:00-17:00"])')
    return Hours(week, ctx.values["hours.closed"])


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def _secret(ctx: Context, section: str, what: str, credential: str, hosts: list[str]) -> \
        Secret | None:
    """The one password of `section` from password_file, password_env or password (or the
    systemd credential named `credential`); a problem when none is given and a server of the
    section is not on this machine (a loopback server may take no login)."""
    keys = [f"{section}.{k}" for k in ("password", "password_file", "password_env")]
    given = [k for k in keys if k in ctx.given]
    if len(given) > 1:
        ctx.error(given[1], f"give only one of {section}.password_file, {section}.password_env "
                  f"and {section}.password")
        return None
    if given:
        found: Secret | None = ctx.values[given[0]]
        return found
    creds = ctx.credentials
    if creds is not None and _nonempty(creds / credential):
        # systemd's LoadCredential= hands secrets over as files named by the unit (an empty one
        # stands for a file the unit did not find: SetCredential=)
        return read_secret(creds / credential, f"{section} (credential {credential})", ctx)
    remote = [h for h in hosts if h and not is_loopback(h)]
    if remote:
        ctx.error(f"{section}.password_file", f"is required: no {what} password is given, and "
                  f"{remote[0]} is not on this machine (or set {section}.password_env, or hand "
                  f"over a systemd credential named {credential})")
    return None


def _nonempty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0 and bool(path.read_bytes().strip())
    except OSError:
        return path.is_file()  # unreadable: read_secret says why


def _calendar(ctx: Context) -> CalendarSettings:
    v = ctx.values
    busy = v["calendar.busy_urls"]
    password = _secret(ctx, "calendar", "CalDAV", "caldav-password",
                       [_host(u) for u in (v["calendar.url"] or "", *busy)])
    return CalendarSettings(v["calendar.url"] or "", v["calendar.username"], password, busy,
                            v["calendar.poll_seconds"])


def _mail(ctx: Context) -> MailSettings:
    v = ctx.values
    imap_host, smtp_host = v["mail.imap_host"] or "", v["mail.smtp_host"] or ""
    for proto, host in (("imap", imap_host), ("smtp", smtp_host)):
        if host and v[f"mail.{proto}_security"] == "none" and not is_loopback(host):
            ctx.error(f"mail.{proto}_security", '"none" (no TLS) is only allowed to a '
                      f'loopback host, not "{host}"')
    if v["mail.mode"] == "draft" and not v["mail.drafts_folder"]:
        ctx.error("mail.drafts_folder", 'must name a folder when mail.mode = "draft"')
    password = _secret(ctx, "mail", "mail", "mail-password", [imap_host, smtp_host])
    return MailSettings(
        imap_host, v["mail.imap_port"], v["mail.imap_security"], smtp_host, v["mail.smtp_port"],
        v["mail.smtp_security"], v["mail.username"] or v["freelancer.email"] or "", password,
        v["mail.inbox"], v["mail.sent_folder"], v["mail.drafts_folder"], v["mail.mode"],
        authserv_ids=v["mail.authserv_ids"],
        max_message_bytes=int(v["mail.max_message_mb"] * MIB))


def _daemon(ctx: Context) -> DaemonSettings:
    v = ctx.values
    if v["daemon.state_dir"] is not None:
        state_dir, why = v["daemon.state_dir"], "daemon.state_dir"
    else:  # not set, or set to "": where the service that reads this file keeps it
        state_dir, why = default_state_dir(ctx.path, ctx.env)
    return DaemonSettings(state_dir, v["daemon.log_level"], v["daemon.templates_dir"], why)

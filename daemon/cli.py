"""The `frontdesk` command: parse arguments, load the configuration, run one command.

Errors a person can fix are printed as one clear sentence; only bugs keep a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from connectors.net import SECURITIES
from daemon import init as init_mod
from daemon.config import Config, ConfigError, load_config
from daemon.errors import EX_CONFIG, EX_FAILURE, EX_USAGE, UserError
from daemon.logsetup import setup_logging
from rules.model import LANGUAGES

log = logging.getLogger("frontdesk")

CONFIG_HELP = ("the configuration file (default: $FRONTDESK_CONFIG, the systemd credential "
               "frontdesk.toml, ~/.config/frontdesk/frontdesk.toml, "
               "/etc/frontdesk/frontdesk.toml)")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _version() -> str:
    try:
        return version("frontdesk")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frontdesk",
        description="Enforce a freelancer's working rules on their own calendar and mailbox.",
        epilog="Each command has its own --help. Start with `frontdesk init` (or `frontdesk "
               "demo` to see it at work), then `frontdesk check`.")
    parser.add_argument("--version", action="version", version=f"frontdesk {_version()}")
    parser.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    # the same two options after the command (`frontdesk check --config PATH`); SUPPRESS keeps
    # a value given before the command when they are not repeated
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log at debug level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=description, parents=[common])

    init = command("init", "write a configuration and its password files by answering a few "
                           "questions",
                   "Ask a few questions (each also a flag, for unattended use; without a "
                   "terminal, the unanswered ones are read line by line from standard input, "
                   "an empty line taking the default), write a commented configuration and its "
                   "password files (mode 600), then run `frontdesk check`. Nothing is "
                   "overwritten. The file goes to --config PATH, else $FRONTDESK_CONFIG, else "
                   "/etc/frontdesk/frontdesk.toml as root, else "
                   "~/.config/frontdesk/frontdesk.toml; the password files beside it.")
    init.add_argument("--name", help="your name, as it signs every reply")
    init.add_argument("--email", metavar="ADDRESS", help="your email address")
    init.add_argument("--timezone", metavar="ZONE",
                      help="your IANA time zone, e.g. Europe/Paris (default: the system's)")
    init.add_argument("--language", choices=LANGUAGES,
                      help="the language of replies when the client's is unknown")
    init.add_argument("--days", metavar="DAYS",
                      help=f'your working days, e.g. "monday,tuesday,thursday" (default: '
                           f'"{init_mod.WORKDAYS}")')
    init.add_argument("--hours", metavar="RANGES",
                      help=f'your working hours on those days, e.g. "09:00-12:00,13:00-17:00" '
                           f'(default: "{init_mod.WORKHOURS}")')
    init.add_argument("--calendar-url", metavar="URL", help="the CalDAV calendar to guard")
    init.add_argument("--calendar-username", metavar="NAME",
                      help="the CalDAV login name (default: your email address)")
    init.add_argument("--imap-host", metavar="HOST[:PORT]",
                      help='the IMAP server of your mailbox ("" for none: no mail is read)')
    init.add_argument("--smtp-host", metavar="HOST[:PORT]", help="the SMTP server that sends "
                                                                  "your mail")
    init.add_argument("--imap-security", choices=SECURITIES,
                      help='how IMAP is protected (default: tls; "none" only to a loopback '
                           "host)")
    init.add_argument("--smtp-security", choices=SECURITIES,
                      help='how SMTP is protected (default: tls; "none" only to a loopback '
                           "host)")
    init.add_argument("--mail-username", metavar="NAME",
                      help="the IMAP and SMTP login name (default: your email address)")
    init.add_argument("--offline", action="store_true",
                      help="check the written file only; connect to no server")

    check = command("check", "validate the configuration and try every server",
                    "Validate the configuration (every problem at once, exit status 78), then "
                    "log in to the calendar and the mail servers and say, one line each, what "
                    "works and what does not (exit status 1 when something fails).")
    check.add_argument("--offline", action="store_true",
                       help="validate the file and read its password files, but connect to "
                            "no server")

    slots = command("slots", "show the slots a booking reply sent now would offer",
                    "Sync the calendar, then print the times a booking reply sent now would "
                    "offer, in the freelancer's zone.")
    slots.add_argument("--from", dest="from_date", type=_date, metavar="YYYY-MM-DD",
                       help="count from this date at 00:00 local instead of now")
    slots.add_argument("--days", type=_positive, metavar="N",
                       help="look N days ahead instead of booking.horizon_days")
    slots.add_argument("--all", action="store_true",
                       help="every bookable slot, not only the few a reply offers")
    slots.add_argument("--json", action="store_true",
                       help="print a JSON array of {start, end} in ISO 8601 instead of text")

    once = command("once", "one full pass: sync the calendar, guard invitations, answer the "
                           "inbox",
                   "One full pass, as the service does it: sync the calendar, decline the "
                   "invitations the rules refuse, answer the booking emails that arrived since "
                   "the last pass; then exit.")
    once.add_argument("--dry-run", action="store_true",
                      help="print the decisions; change nothing, send nothing")
    once.add_argument("--backfill-hours", type=float, metavar="N",
                      help="also take the mail of the last N hours (mail from before the first "
                           "start is otherwise left alone)")

    explain = command("explain", "what frontdesk would do with one email, and why",
                      "Read one email from a file and print what frontdesk would do with it, "
                      "the rule that decided, and the reply it would send. Nothing is sent or "
                      "stored.")
    explain.add_argument("file", metavar="FILE.eml",
                         help="the email, as saved by a mail client (.eml, RFC 5322)")

    command("run", "run as a service: watch the inbox (IMAP IDLE) and poll the calendar until "
                   "stopped (SIGTERM; SIGHUP reloads)",
            "Run as a service until SIGTERM: watch the inbox with IMAP IDLE, poll the calendar "
            "every calendar.poll_seconds, and tell systemd how it goes (Type=notify). SIGHUP "
            "reads the configuration again (an invalid one is refused; the old one stays).")
    demo = command("demo", "see frontdesk at work on local servers, no account needed (Ctrl-C "
                           "stops it)",
                   "Start a local calendar and mail server with a sample freelancer, and show "
                   "frontdesk answering and declining. Needs the demo extra.")
    demo.add_argument("--send", metavar="TEXT", help="email the running demo this text, and "
                                                     "print frontdesk's answer")
    demo.add_argument("--from", dest="sender", default="you@client.example", metavar="ADDRESS",
                      help="with --send: the client's address (default you@client.example)")
    demo.add_argument("--subject", default="Rendez-vous",
                      help="with --send: the subject of the email (default Rendez-vous)")
    demo.add_argument("--no-wait", action="store_true",
                      help="stop once the sample emails are answered (for scripts)")
    command("status", "what the service has done: last sync, today's counts, failures, drafts "
                      "waiting",
            "Print what the service that this configuration runs has done, from its state "
            "database (daemon.state_dir; by default the systemd unit's StateDirectory, see "
            "`frontdesk check`): last sync, last mail, today's counts, failures, drafts.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # icalendar warns on every vendor-prefixed TZID it maps; connectors/ical resolves those
    # itself and logs what it cannot, so the warning is only noise on a user's terminal
    warnings.filterwarnings("ignore", message=".*TZID.*", category=UserWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("debug" if args.verbose else "info")
    if args.command == "demo":
        return _demo(args)
    if args.command == "init":
        return _init(args)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EX_CONFIG
    if not args.verbose:
        # a service logs what it does; a command run by hand speaks on stdout, logs only trouble
        quiet = args.command in ("check", "slots", "explain", "status")
        setup_logging("warning" if quiet else config.daemon.log_level)
    for warning in config.warnings:
        log.warning("warning: %s", warning)
    try:
        return int(COMMANDS[args.command](config, args))
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EX_CONFIG
    except UserError as exc:
        print(f"frontdesk: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


def _init(args: argparse.Namespace) -> int:
    """`frontdesk init`: write the files, then check them as `frontdesk check` does."""
    setup_logging("debug" if args.verbose else "warning")
    target = Path(args.config).expanduser() if args.config else \
        init_mod.default_target(os.environ)
    options = {k: getattr(args, k) for k in (
        "name", "email", "timezone", "language", "days", "hours", "calendar_url",
        "calendar_username", "imap_host", "smtp_host", "imap_security", "smtp_security",
        "mail_username")}
    try:
        written = init_mod.run_init(target, options)
    except UserError as exc:
        print(f"frontdesk: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    print(f"wrote {written.config}")
    for path in written.secrets:
        print(f"wrote {path} (mode 600)")
    try:
        config = load_config(str(written.config))
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EX_CONFIG
    for warning in config.warnings:
        log.warning("warning: %s", warning)
    return cmd_check(config, argparse.Namespace(offline=args.offline))


def _demo(args: argparse.Namespace) -> int:
    from daemon import demo

    setup_logging("debug" if args.verbose else "warning")
    try:
        if args.send is not None:
            return demo.send(args.send, sender=args.sender, subject=args.subject)
        return demo.run_demo(wait=not args.no_wait)
    except UserError as exc:
        print(f"frontdesk: {exc}", file=sys.stderr)
        return exc.status


# --- commands ------------------------------------------------------------------------------------


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    where = config.path or "configuration"
    print(f"ok    configuration {where}" + (f" ({len(config.warnings)} warnings)"
                                            if config.warnings else ""))
    if args.offline:
        return 0
    from daemon import checks

    ok = True
    for passed, line in checks.run_checks(config):
        print(f"{'ok' if passed else 'FAIL':<5} {line}")
        ok = ok and passed
    return 0 if ok else EX_FAILURE


def cmd_slots(config: Config, args: argparse.Namespace) -> int:
    from daemon.app import App
    from rules.availability import bookable_slots, offer
    from rules.replies import format_slot

    zone = config.policy.zone
    today = datetime.now(zone)
    if args.from_date:
        now = datetime.combine(args.from_date, time(0, 0), tzinfo=zone)
        if args.from_date < today.date():
            raise UserError(f"--from {args.from_date.isoformat()} is in the past (today is "
                            f"{today.date().isoformat()}): no slot can be offered then",
                            EX_USAGE)
    else:
        now = today
    horizon = args.days or config.policy.booking.horizon_days
    with App(config) as app:
        app.sync_calendars()
        window_end = now + timedelta(days=horizon + 1)
        busy = app.busy(now - timedelta(days=1), window_end)
    if args.all:
        found = bookable_slots(config.policy, busy, now, horizon_days=horizon)
    else:
        found = offer(config.policy, busy, now, horizon_days=horizon)
    if args.json:
        print(json.dumps([{"start": s.start.isoformat(), "end": s.end.isoformat()}
                          for s in found], indent=2))
        return 0
    language = config.policy.freelancer.language
    if not found:
        print("Aucun créneau libre." if language == "fr" else "No free slot.")
        return 0
    for number, slot in enumerate(found, 1):
        print(f"{number}. {format_slot(slot, language, zone)}")
    return 0


def check_own_templates(config: Config) -> None:
    """A freelancer's broken template stops start-up, as a bad configuration does."""
    if config.daemon.templates_dir is None:
        return
    from daemon.templates import check_templates

    problems = check_templates(config.daemon.templates_dir, config.policy)
    if problems:
        raise ConfigError(config.path, [f"daemon.templates_dir: {p}" for p in problems])


def cmd_once(config: Config, args: argparse.Namespace) -> int:
    from daemon.app import App
    from daemon.errors import EX_UNAVAILABLE

    check_own_templates(config)

    if args.dry_run:
        print("dry run: nothing is changed, nothing is sent", file=sys.stderr)
    if args.backfill_hours is not None and args.backfill_hours < 0:
        raise UserError("--backfill-hours must be zero or more", EX_USAGE)
    with App(config) as app:
        report = app.run_pass(datetime.now(config.policy.zone), dry_run=args.dry_run,
                              emit=lambda line: print(line, flush=True),
                              backfill_hours=args.backfill_hours)
    for note in report.notes:
        print(note)
    if not report.lines and not report.notes:
        print("nothing to do: no new invitation, no new mail")
    problems = [p for p in (report.calendar_error, report.mail_error) if p]
    for problem in problems:
        print(f"frontdesk: {problem}", file=sys.stderr)
    if report.waiting:
        print(f"{report.waiting} email(s) wait for the calendar to sync, then are answered",
              file=sys.stderr)
    return EX_UNAVAILABLE if problems else 0


def cmd_explain(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from daemon.explain import explain

    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {args.file}: {exc.strerror or exc}", EX_USAGE) from None
    lines, reply = explain(config, raw, file_name=args.file)
    for line in lines:
        print(line)
    if reply:
        print("--- the reply it would send ---")
        print(reply.rstrip("\n"))
    else:
        print("no reply would be sent")
    return 0


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from daemon import runner

    check_own_templates(config)

    return runner.run(config, args.config)


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    from daemon.status import status_lines

    for line in status_lines(config):
        print(line)
    return 0


COMMANDS = {
    "check": cmd_check,
    "slots": cmd_slots,
    "once": cmd_once,
    "explain": cmd_explain,
    "run": cmd_run,
    "status": cmd_status,
}


if __name__ == "__main__":
    sys.exit(main())

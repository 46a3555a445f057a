"""The `frontdesk` command: parse arguments, load the configuration, run one command.

Errors a person can fix are printed as one clear sentence; only bugs keep a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from daemon.config import Config, ConfigError, load_config
from daemon.errors import EX_CONFIG, EX_FAILURE, EX_USAGE, UserError
from daemon.logsetup import setup_logging

log = logging.getLogger("frontdesk")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frontdesk",
        description="Enforce a freelancer's working rules on their own calendar and mailbox.")
    parser.add_argument("--config", metavar="PATH",
                        help="configuration file (default: $FRONTDESK_CONFIG, "
                             "~/.config/frontdesk/frontdesk.toml, /etc/frontdesk/frontdesk.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    check = sub.add_parser("check", help="validate the configuration and try every server")
    check.add_argument("--offline", action="store_true", help="check only the file")

    slots = sub.add_parser("slots", help="show the slots a booking reply sent now would offer")
    slots.add_argument("--from", dest="from_date", type=_date, metavar="YYYY-MM-DD",
                       help="count from this date at 00:00 local instead of now")
    slots.add_argument("--days", type=_positive, metavar="N",
                       help="look N days ahead instead of booking.horizon_days")
    slots.add_argument("--all", action="store_true", help="every bookable slot, not the offer")
    slots.add_argument("--json", action="store_true", help="a JSON array of {start, end}")

    once = sub.add_parser("once", help="one full pass: sync the calendar, guard invitations, "
                                       "answer the inbox")
    once.add_argument("--dry-run", action="store_true",
                      help="print the decisions; change nothing, send nothing")
    once.add_argument("--backfill-hours", type=float, metavar="N",
                      help="also take the mail of the last N hours")

    explain = sub.add_parser("explain", help="what frontdesk would do with one email, and why")
    explain.add_argument("file", metavar="FILE.eml")

    sub.add_parser("run", help="run as a service: watch the inbox (IMAP IDLE) and poll the "
                               "calendar until stopped (SIGTERM; SIGHUP reloads)")
    demo = sub.add_parser("demo", help="see frontdesk at work on local servers, no account "
                                       "needed (Ctrl-C stops it)")
    demo.add_argument("--send", metavar="TEXT", help="email the running demo this text, and "
                                                     "print frontdesk's answer")
    demo.add_argument("--from", dest="sender", default="you@client.example", metavar="ADDRESS",
                      help="with --send: the client's address (default you@client.example)")
    demo.add_argument("--subject", default="Rendez-vous", help="with --send: the subject")
    demo.add_argument("--no-wait", action="store_true",
                      help="stop once the sample emails are answered (for scripts)")
    sub.add_parser("status", help="what the service has done: last sync, today's counts, "
                                  "failures, drafts waiting")
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

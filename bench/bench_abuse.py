"""Benchmark of what an outsider can make frontdesk send, and what one email can cost (issue 9;
run by hand, not by pytest).

    .venv/bin/python bench/bench_abuse.py
    .venv/bin/python bench/bench_abuse.py --before /tmp/v1tree --forged 300 --fuzz 300

1. Reflection: one `frontdesk once` over an attacker's flood — Reply-To pointing at victims,
   forged From addresses sent with the attacker's own envelope, +tag variants, and one email
   holding hundreds of weekend REQUESTs each with a victim as ORGANIZER. Counted: mail to
   anyone but the attacker's own envelope address, mail in all, and the pass's duration; the
   worst case per hour is what the pass sent, scaled to an hour of such passes (the caps bound
   it when they apply). With `--before DIR` (a checkout of frontdesk 0.1, e.g. commit
   6399076) the same flood goes through that version too, in the same run.
2. Cost of one email: the fuzz corpus of tests/test_fuzz.py (seeded, larger) decoded and
   planned in-process, each message's CPU time measured (`time.thread_time`): the largest,
   p99 and the per-message budget (daemon.inbox.MESSAGE_CPU_SECONDS).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    JULIE,
    REPO,
    Servers,
    Table,
    machine,
    write_json,
)

sys.path.insert(0, str(REPO / "tests"))

from test_fuzz import message
from test_security import raw_mail, weekend_request

ATTACKER = "attacker@evil.example"


def flood(forged: int, invitations: int) -> list[tuple[bytes, str]]:
    """(raw, envelope sender) of the attacker's messages."""
    found = []
    for i in range(forged):
        kind = i % 3
        if kind == 0:  # Reply-To at a victim
            found.append((raw_mail(ATTACKER, "Rendez-vous", "Bonjour, un rendez-vous svp ?",
                                   headers={"Reply-To": f"victim{i}@third.example"}), ATTACKER))
        elif kind == 1:  # a forged From, the attacker's envelope
            found.append((raw_mail(f"victim{i}@third.example", "Rendez-vous",
                                   "Hi, could I book a session?", envelope=ATTACKER), ATTACKER))
        else:  # +tags on the attacker's own address
            sender = f"attacker+{i}@evil.example"
            found.append((raw_mail(sender, "RDV", "Bonjour, avez-vous des disponibilités ?"),
                          sender))
    victims = [f"organizer{i}@third.example" for i in range(invitations)]
    found.append((raw_mail(ATTACKER, "Invitations",
                           calendar=weekend_request(invitations, victims)), ATTACKER))
    return found


def pass_over(config: Path, servers: Servers, messages: list[tuple[bytes, str]],
              before: Path | None) -> dict[str, float]:
    assert servers.imap is not None and servers.sink is not None
    if before is not None:
        command = [sys.executable, "-m", "daemon.cli", "--config", str(config), "once"]
        env = dict(os.environ, PYTHONPATH=str(before))
        cwd: str | None = str(before)
    else:
        command = [str(REPO / ".venv" / "bin" / "frontdesk"), "--config", str(config), "once"]
        env, cwd = dict(os.environ), None
    subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=True, timeout=600)
    mark = len(servers.sink.messages)
    for raw, envelope in messages:
        servers.imap.deliver(JULIE, raw, envelope)
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=3600)
    seconds = time.monotonic() - started
    out = [e for e in servers.sink.messages[mark:] if e.mail_from.lower() == JULIE]
    to_others = [r for e in out for r in e.rcpt_tos if not r.endswith("@evil.example")]
    return {"sent": len(out), "to_third_parties": len(to_others), "seconds": seconds,
            "per_hour": len(out) / seconds * 3600 if seconds else 0.0,
            "exit": done.returncode, "traceback": "Traceback" in done.stderr}


def cost_per_message(count: int, seed: int) -> list[float]:
    from helpers import write_config

    from connectors.budget import Budget, OverBudget
    from connectors.mailparse import MalformedMessage
    from daemon.app import App
    from daemon.config import load_config
    from daemon.guard import Guard
    from daemon.inbox import MESSAGE_CPU_SECONDS, Inbox
    from daemon.ledger import Ledger

    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"abuse-{os.getpid()}"
    config = load_config(str(write_config(folder, calendar_url="http://127.0.0.1:9/x/")))
    rng = random.Random(seed)
    costs = []
    with App(config, ledger=Ledger.open(None)) as app:
        guard = Guard(config, app.ledger, app.templates(), dry_run=True)
        inbox = Inbox(config, app.ledger, guard, app.templates(), dry_run=True)
        now = time.time()
        from datetime import datetime

        moment = datetime.fromtimestamp(now, config.policy.zone)
        for i in range(count):
            raw, _, _ = message(rng, i)
            started = time.thread_time()
            budget = Budget(MESSAGE_CPU_SECONDS)
            try:
                msg = inbox.read(raw, budget)
                inbox.plan(msg, i + 1, moment, [], budget)
            except (MalformedMessage, OverBudget):
                pass
            costs.append(time.thread_time() - started)
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forged", type=int, default=300, help="forged booking requests")
    parser.add_argument("--invitations", type=int, default=300,
                        help="third-party REQUESTs in one email")
    parser.add_argument("--before", type=Path, help="a checkout of frontdesk 0.1 to compare")
    parser.add_argument("--fuzz", type=int, default=300, help="fuzzed emails to time")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    results: dict[str, dict[str, float]] = {}
    for label, before in (("before", args.before), ("after", None)):
        if label == "before" and before is None:
            continue
        with Servers(events=200, imap=None) as servers:
            config = servers.config()
            # Servers' [limits] section (caps lifted for benchmarks) is the file's last
            text = config.read_text().split("\n[limits]\n")[0] + "\n"
            if label == "after":  # the defaults a freelancer gets (0.1 knows no [limits])
                text += ("[limits]\nper_hour = 30\nper_day = 200\nper_sender_per_day = 3\n"
                         "declines_per_organizer_per_day = 10\n")
            config.write_text(text)
            results[label] = pass_over(config, servers, flood(args.forged, args.invitations),
                                       before)
    import logging

    logging.disable(logging.WARNING)  # the fuzzed calendars' skip notices
    costs = sorted(cost_per_message(args.fuzz, 7))
    from daemon.inbox import MESSAGE_CPU_SECONDS

    table = Table(f"what an outsider can make frontdesk send ({args.forged} forged requests, "
                  f"{args.invitations} third-party REQUESTs in one email)")
    after = results["after"]
    for label, figures in results.items():
        table.add(f"{label}: emails sent by one pass", str(int(figures["sent"])),
                  f"{figures['seconds']:.1f} s", "")
        table.add(f"{label}: to third parties (victims)", str(int(figures["to_third_parties"])),
                  "", "", target="0" if label == "after" else "",
                  ok=figures["to_third_parties"] == 0 if label == "after" else None)
        # after: the caps bound any hour, whatever the pace of the flood
        worst = figures["per_hour"] if label == "before" else min(figures["per_hour"], 30)
        table.add(f"{label}: worst case per hour", f"{worst:.0f}/h",
                  f"{figures['per_hour']:.0f}/h at this pace" if label == "after" else "",
                  "", target="<= 30/h (limits.per_hour)" if label == "after" else "",
                  ok=figures["sent"] <= 30 if label == "after" else None)
    table.add(f"largest CPU per email ({len(costs)} fuzzed)", f"{costs[-1] * 1000:.0f} ms",
              f"budget {MESSAGE_CPU_SECONDS:g} s", "",
              target=f"<= {MESSAGE_CPU_SECONDS:g} s", ok=costs[-1] <= MESSAGE_CPU_SECONDS + 0.1)
    table.add("p99 CPU per email", f"{costs[int(len(costs) * 0.99) - 1] * 1000:.0f} ms", "", "")
    table.notes.append("worst case per hour: the pass's emails scaled to an hour of such "
                       "passes; after, the caps bound the hour whatever the flood")
    table.print()
    p99 = costs[int(len(costs) * 0.99) - 1]
    write_json(args.json, {"bench": "abuse", "machine": machine(), "results": results,
                           "cpu_per_email": {"max": costs[-1], "p99": p99,
                                             "count": len(costs)}})
    return 0 if after["to_third_parties"] == 0 and after["sent"] <= 30 else 1


if __name__ == "__main__":
    sys.exit(main())

"""kill -9 storms (issue 8): `frontdesk run` killed at random moments while it answers a backlog
of booking requests, started again each time as systemd would (run by hand, not by pytest).

    .venv/bin/python bench/bench_kill.py                    # 300 requests: 10 kills, then 100
    .venv/bin/python bench/bench_kill.py --requests 300 --kills 10 100 --json /tmp/kill.json

For each storm, fresh servers and state: Radicale with Julie's calendar, Dovecot (or pymap), the
SMTP sink; a first `once` sets the inbox position, the backlog is delivered, then
tests/fixtures/storm.py kills `frontdesk run` (SIGKILL) `kills` times at random moments (0.1 to
1.5 s after each start) while any request is unanswered, and lets the last start finish.

Floor, in the same run: the same backlog answered by one `frontdesk run` never killed.
Targets: 0 requests unanswered, 0 answered with two different Message-IDs. Reported: how many
clients got the same reply twice (the same Message-ID: a kill between the final dot and the
server's answer; mail programs show it once) and the time to answer everything.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import (
    FRONTDESK,
    Lmtp,
    Servers,
    Table,
    client_mail,
    machine,
    once,
    write_json,
)
from fixtures.storm import StormReport, storm

TEXT = "Bonjour, je voudrais prendre rendez-vous svp."


def one_storm(requests: int, kills: int, seed: int, imap: str | None) -> StormReport:
    with Servers(events=200, imap=imap) as servers:
        assert servers.imap is not None and servers.sink is not None
        config = servers.config()
        once(config)  # the inbox position: what arrives now is the backlog
        senders = [f"client{i:03d}@client.example" for i in range(requests)]
        lmtp = Lmtp(servers.imap)
        for sender in senders:
            lmtp.deliver(client_mail(sender, "Rendez-vous", TEXT), sender)
        lmtp.close()
        log = servers.folder / "run.log"
        return storm(FRONTDESK, config, servers.sink, senders, kills=kills, seed=seed, log=log,
                     finish_timeout=900)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--kills", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--imap", choices=("dovecot", "pymap"), default=None)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    floor = one_storm(args.requests, 0, args.seed, args.imap)
    print(f"floor: {args.requests} requests answered by one `frontdesk run`, never killed, in "
          f"{floor.seconds:.1f} s")
    storms = []
    for kills in args.kills:
        report = one_storm(args.requests, kills, args.seed, args.imap)
        storms.append((kills, report))
        print(f"{kills} kills asked, {report.kills} made: {report.seconds:.1f} s, "
              f"{len(report.unanswered)} unanswered, {len(report.two_ids)} with two ids, "
              f"{len(report.twice_same_id)} twice with the same id")

    table = Table(f"kill -9 storms in a {args.requests}-request backlog")
    table.add("backlog answered, never killed (floor)", f"{floor.seconds:.1f} s", "")
    ok = not floor.unanswered and not floor.two_ids
    for kills, report in storms:
        fine = not report.unanswered and not report.two_ids
        ok = ok and fine
        table.add(f"{kills} kills ({report.kills} made): requests unanswered",
                  str(len(report.unanswered)), "", "", "0", not report.unanswered)
        table.add(f"{kills} kills: answered with two Message-IDs", str(len(report.two_ids)), "",
                  "", "0", not report.two_ids)
        table.add(f"{kills} kills: the same reply twice (same id)",
                  str(len(report.twice_same_id)), "")
        table.add(f"{kills} kills: time to answer all", f"{report.seconds:.1f} s",
                  f"{floor.seconds:.1f} s", f"x{report.seconds / max(floor.seconds, 0.01):.1f}")
    table.notes.append(f"kills at random 0.1-1.5 s after each start (seed {args.seed}); "
                       f"whole benchmark {time.perf_counter() - started:.0f} s")
    table.print()
    write_json(args.json, {
        "machine": machine(), "requests": args.requests, "floor_seconds": floor.seconds,
        "storms": [{"kills_asked": k, "kills": r.kills, "seconds": r.seconds,
                    "unanswered": len(r.unanswered), "two_ids": len(r.two_ids),
                    "twice_same_id": len(r.twice_same_id), "replies": r.replies}
                   for k, r in storms],
    })
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

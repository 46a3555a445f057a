"""Soak test of `frontdesk run` (issue 5): an hour of steady traffic, memory sampled every 10 s
(run by hand, not by pytest).

    .venv/bin/python bench/bench_soak.py                       # 3600 s
    .venv/bin/python bench/bench_soak.py --seconds 300 --imap-restart-every 120 --csv /tmp/rss.csv
    nohup .venv/bin/python bench/bench_soak.py --json soak.json > soak.log 2>&1 &

`frontdesk run` starts as systemd starts it (NOTIFY_SOCKET; measuring starts at READY=1) against
Radicale (its own process), Dovecot (or pymap) and the SMTP sink delivering into Julie's INBOX.
Meanwhile:

- a booking email (or a price objection, or a thank-you note that must not be answered) every
  few seconds, from a pool of rotating senders (by default 997, so a sender comes back after
  about 50 minutes and the rate limit, one reply per sender per kind per day, is exercised);
- a new off-hours invitation every ~30 s, organizers rotating;
- an IMAP server restart every 10 minutes (mail sent meanwhile is retried by the client when
  the sink answers 451);
- VmRSS of the service (from /proc/PID/status) every 10 s, with its CPU time and open fds.

Reported: RSS at READY (the floor), at 5 minutes and at the end, and the slope (least squares,
over the whole run and from 5 minutes on). Checked: no sender got two replies of one kind, no
message was answered twice, every (sender, kind) got its one reply, every invitation exactly one
decline, the service exits 0 on SIGTERM.
"""

from __future__ import annotations

import argparse
import csv
import email
import email.policy
import os
import random
import smtplib
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BOOKING_EN,
    BOOKING_FR,
    OBJECTION,
    THANKS,
    RunProcess,
    Servers,
    Table,
    client_mail,
    invitation,
    machine,
    ms,
    now_local,
    off_hours_start,
    percentile,
    send_smtp,
    write_json,
)


@dataclass(frozen=True)
class Sent:
    sender: str
    kind: str  # booking | objection | thanks
    message_id: str
    accepted_at: float


@dataclass(frozen=True)
class Sample:
    elapsed: float  # seconds since READY
    rss_kib: int
    cpu_seconds: float
    fds: int
    threads: int


def read_sample(pid: int, since: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = float(os.sysconf("SC_CLK_TCK"))
    cpu = (int(stat[11]) + int(stat[12])) / ticks  # utime + stime (fields 14, 15)
    fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    return Sample(
        time.monotonic() - since,
        int(fields["VmRSS"].split()[0]),
        cpu,
        fds,
        int(fields["Threads"].strip()),
    )


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per hour; nan with fewer than 2 points."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in points) / var * 3600


class Traffic:
    """The clients and organizers, each in its own thread, until stop."""

    def __init__(self, servers: Servers, args: argparse.Namespace, tag: str) -> None:
        self.servers = servers
        self.args = args
        self.tag = tag
        self.stop = threading.Event()
        self.sent: list[Sent] = []
        self.invitations: dict[str, tuple[str, float]] = {}  # uid -> (organizer, stored at)
        self.retries = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.rng = random.Random(17)

    def mail(self) -> None:
        assert self.servers.sink is not None
        senders = [f"c{k:04d}.{self.tag}@client.example" for k in range(self.args.senders)]
        i = 0
        while not self.stop.is_set():
            sender = senders[i % len(senders)]
            slot = i % 20
            if slot < 15:
                kind, (subject, body) = "booking", (BOOKING_FR if i % 2 else BOOKING_EN)[i % 4 // 2]
            elif slot < 18:
                kind, (subject, body) = "objection", OBJECTION[i % 2]
            else:
                kind, (subject, body) = "thanks", THANKS[i % 2]
            message_id = f"<soak-{i}.{self.tag}@client.example>"
            raw = client_mail(sender, subject, body, name=f"Client {i}", message_id=message_id)
            deadline = time.monotonic() + 120
            while not self.stop.is_set():
                try:
                    send_smtp(self.servers.sink.port, raw, sender)
                    break
                except (smtplib.SMTPException, OSError) as exc:
                    # the sink answers 451 while the IMAP server restarts: an MTA retries
                    self.retries += 1
                    if time.monotonic() > deadline:
                        self.errors.append(f"{message_id}: {exc}")
                        break
                    time.sleep(1)
            else:
                break
            accepted = next(
                (
                    e.accepted_at
                    for e in reversed(self.servers.sink.messages)
                    if e.mail_from == sender
                ),
                None,
            )
            if accepted is not None:
                with self.lock:
                    self.sent.append(Sent(sender, kind, message_id.strip("<>"), accepted))
            i += 1
            mean = self.args.mail_every
            self.stop.wait(self.rng.uniform(0.5 * mean, 1.5 * mean))

    def calendar(self) -> None:
        assert self.servers.radicale is not None
        today = now_local().date()
        i = 0
        while not self.stop.wait(self.rng.uniform(0.8, 1.2) * self.args.invite_every):
            organizer = f"organizer{i % 20}.{self.tag}@example.com"
            uid = f"soak-{i}.{self.tag}@example.com"
            ics = invitation(
                uid, off_hours_start(i, today), summary=f"Call {i}", organizer=organizer
            )
            try:
                self.servers.radicale.put_event(self.servers.calendar_url, f"soak-{i}.ics", ics)
            except Exception as exc:  # a failed PUT is a bench problem, not frontdesk's
                self.errors.append(f"PUT {uid}: {exc}")
                continue
            with self.lock:
                self.invitations[uid] = (organizer, time.monotonic())
            i += 1


def imip_uid(content: bytes) -> str:
    msg = email.message_from_bytes(content, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            text = part.get_content()
            text = text.decode() if isinstance(text, bytes) else text
            for line in text.replace("\r\n ", "").splitlines():
                if line.startswith("UID:"):
                    return line[4:].strip()
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3600.0, help="how long to run")
    parser.add_argument("--mail-every", type=float, default=3.0, help="mean seconds between mails")
    parser.add_argument(
        "--invite-every", type=float, default=30.0, help="mean seconds between invitations"
    )
    parser.add_argument(
        "--imap-restart-every",
        type=float,
        default=600.0,
        help="seconds between IMAP server restarts (0: never)",
    )
    parser.add_argument("--senders", type=int, default=997, help="rotating client senders")
    parser.add_argument("--sample-every", type=float, default=10.0, help="RSS sampling period")
    parser.add_argument("--poll-seconds", type=int, default=15, help="calendar poll_seconds")
    parser.add_argument("--events", type=int, default=2000, help="events in the calendar")
    parser.add_argument(
        "--imap",
        choices=("dovecot", "pymap"),
        default=None,
        help="IMAP server (default: Dovecot when installed)",
    )
    parser.add_argument("--csv", metavar="PATH", help="write the RSS samples as CSV")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    tag = f"s{int(time.time())}"

    samples: list[Sample] = []
    restarts: list[float] = []
    with Servers(events=args.events, imap=args.imap) as servers:
        assert servers.imap is not None and servers.sink is not None
        print(
            f"servers: Radicale (process) with {args.events} events; IMAP: {servers.imap_name}; "
            f"SMTP: aiosmtpd sink; soak of {args.seconds:g} s",
            flush=True,
        )
        config = servers.config(poll_seconds=args.poll_seconds)
        service = RunProcess(config, servers.folder)
        traffic = Traffic(servers, args, tag)
        threads: list[threading.Thread] = []
        code = -1
        try:
            ready = service.ready()
            since = time.monotonic()
            print(f"READY after {ready:.2f} s (pid {service.pid}); traffic starts", flush=True)
            samples.append(read_sample(service.pid, since))
            threads = [
                threading.Thread(target=traffic.mail, daemon=True),
                threading.Thread(target=traffic.calendar, daemon=True),
            ]
            for thread in threads:
                thread.start()
            next_sample = since + args.sample_every
            next_restart = since + args.imap_restart_every if args.imap_restart_every else None
            deadline = since + args.seconds
            while time.monotonic() < deadline:
                now = time.monotonic()
                if service.proc.poll() is not None:
                    print("the service exited early", flush=True)
                    break
                if next_restart is not None and now >= next_restart:
                    servers.imap.restart()
                    restarts.append(now - since)
                    print(f"  {now - since:6.0f} s: IMAP server restarted", flush=True)
                    next_restart += args.imap_restart_every
                if now >= next_sample:
                    sample = read_sample(service.pid, since)
                    samples.append(sample)
                    next_sample += args.sample_every
                    if len(samples) % 30 == 0:
                        print(
                            f"  {sample.elapsed:6.0f} s: RSS {sample.rss_kib} KiB, CPU "
                            f"{sample.cpu_seconds:.1f} s, {len(traffic.sent)} mails, "
                            f"{len(traffic.invitations)} invitations, "
                            f"{len(servers.sink.messages)} at the sink",
                            flush=True,
                        )
                time.sleep(0.2)
            traffic.stop.set()
            for thread in threads:
                thread.join(150)
            # let the last mails and invitations be answered (a poll, a reconnect at most)
            settle_until = time.monotonic() + max(60.0, 3 * args.poll_seconds)
            while time.monotonic() < settle_until:
                replied = {e.rcpt_tos[0].lower() for e in servers.sink.messages}
                due = {s.sender for s in traffic.sent if s.kind != "thanks"}
                organizers = {o for o, _ in traffic.invitations.values()}
                if due <= replied and organizers <= replied:
                    break
                time.sleep(1)
            samples.append(read_sample(service.pid, since))
        finally:
            traffic.stop.set()
            code = service.stop()
            output = service.output()
        envelopes = servers.sink.messages
        sessions = servers.sink.sessions_since(0)

    # -- what was answered --
    by_id = {s.message_id: s for s in traffic.sent}
    replies = []  # (recipient, original)
    declines: Counter[str] = Counter()
    for env in envelopes:
        msg = email.message_from_bytes(env.content, policy=email.policy.default)
        irt = str(msg.get("In-Reply-To", "")).strip().strip("<>")
        if irt in by_id:
            replies.append((env.rcpt_tos[0].lower(), by_id[irt], env.accepted_at))
        elif msg.get_content_type() == "multipart/alternative":
            declines[imip_uid(env.content)] += 1
    per_message = Counter(orig.message_id for _, orig, _ in replies)
    per_kind = Counter((rcpt, orig.kind) for rcpt, orig, _ in replies)
    twice_message = [m for m, n in per_message.items() if n > 1]
    twice_kind = [k for k, n in per_kind.items() if n > 1]
    to_thanks = [orig.message_id for _, orig, _ in replies if orig.kind == "thanks"]
    due_pairs = {(s.sender, s.kind) for s in traffic.sent if s.kind != "thanks"}
    missing = sorted(due_pairs - set(per_kind))
    first_of_pair: dict[tuple[str, str], Sent] = {}
    for s in traffic.sent:
        first_of_pair.setdefault((s.sender, s.kind), s)
    latencies = [
        at - orig.accepted_at
        for _, orig, at in replies
        if first_of_pair.get((orig.sender, orig.kind)) is orig
    ]
    inv_twice = [u for u in traffic.invitations if declines.get(u, 0) > 1]
    inv_missing = [u for u in traffic.invitations if declines.get(u, 0) == 0]

    # -- memory --
    start = samples[0]
    at5 = min(samples, key=lambda s: abs(s.elapsed - 300))
    end = samples[-1]
    slope_all = slope_per_hour([(s.elapsed, s.rss_kib) for s in samples])
    # after the warm-up (imports, first passes, caches): from 5 min, or 1 min in a short run
    warm_from = 300.0 if samples[-1].elapsed >= 600 else 60.0
    slope_warm = slope_per_hour([(s.elapsed, s.rss_kib) for s in samples if s.elapsed >= warm_from])
    peak = max(s.rss_kib for s in samples)
    duration = end.elapsed

    def mib(kib: float) -> str:
        return f"{kib / 1024:.1f} MiB"

    table = Table(
        f"frontdesk run: soak of {duration:.0f} s ({servers.imap_name}, "
        f"{args.events}-event calendar, poll_seconds = {args.poll_seconds})"
    )
    table.add("RSS at READY", mib(start.rss_kib), mib(start.rss_kib), "+0.0 MiB")
    table.add(
        f"RSS at {at5.elapsed:.0f} s",
        mib(at5.rss_kib),
        mib(start.rss_kib),
        f"{(at5.rss_kib - start.rss_kib) / 1024:+.1f} MiB",
    )
    table.add(
        f"RSS at end ({end.elapsed:.0f} s)",
        mib(end.rss_kib),
        mib(start.rss_kib),
        f"{(end.rss_kib - start.rss_kib) / 1024:+.1f} MiB",
    )
    table.add(
        "RSS peak", mib(peak), mib(start.rss_kib), f"{(peak - start.rss_kib) / 1024:+.1f} MiB"
    )
    table.add("RSS slope, whole run", f"{slope_all / 1024:+.2f} MiB/h", "0 MiB/h")
    table.add(
        f"RSS slope, from {warm_from:.0f} s",
        f"{slope_warm / 1024:+.2f} MiB/h",
        "0 MiB/h",
    )
    table.add("open fds at end", str(end.fds), f"{start.fds} at READY", f"{end.fds - start.fds:+d}")
    table.add(
        "CPU time of the service",
        f"{end.cpu_seconds - start.cpu_seconds:.1f} s",
        f"{duration:.0f} s wall",
        f"{(end.cpu_seconds - start.cpu_seconds) / duration:.1%}",
    )
    table.add(
        "replies: one per (sender, kind)",
        str(len(replies)),
        str(len(due_pairs)),
        target=str(len(due_pairs)),
        ok=not missing and len(replies) == len(due_pairs),
    )
    table.add(
        "sender answered twice for a kind", str(len(twice_kind)), "0", target="0", ok=not twice_kind
    )
    table.add(
        "message answered twice", str(len(twice_message)), "0", target="0", ok=not twice_message
    )
    table.add("thank-you notes answered", str(len(to_thanks)), "0", target="0", ok=not to_thanks)
    table.add(
        "invitations declined once",
        f"{len(traffic.invitations) - len(inv_missing)}/{len(traffic.invitations)}",
        str(len(traffic.invitations)),
        target="all, none twice",
        ok=not inv_missing and not inv_twice,
    )
    table.add("exit status after SIGTERM", str(code), "0", target="0", ok=code == 0)
    kinds = Counter(s.kind for s in traffic.sent)
    table.notes += [
        f"traffic: {len(traffic.sent)} mails ({', '.join(f'{k} {n}' for k, n in kinds.items())}) "
        f"from {len({s.sender for s in traffic.sent})} senders, {len(traffic.invitations)} "
        f"invitations; {len(restarts)} IMAP restarts at "
        + (", ".join(f"{r:.0f}" for r in restarts) or "-")
        + " s; "
        f"{traffic.retries} client retries (451 during restarts); {sessions} SMTP sessions",
        f"reply latency (first mail of each pair, SMTP to SMTP): p50 "
        f"{ms(percentile(latencies, 50))}, p95 {ms(percentile(latencies, 95))}, max "
        f"{ms(max(latencies) if latencies else float('nan'))}",
        f"service log: {output.count('Traceback')} tracebacks, {output.count(' WARNING ')} "
        f"warnings, {output.count(' ERROR ')} errors",
    ]
    if traffic.errors:
        table.notes.append(f"bench errors: {traffic.errors[:3]}")
    if missing or twice_kind or twice_message or inv_missing or inv_twice:
        table.notes.append(
            f"missing {missing[:3]}, twice {twice_kind[:3]} {twice_message[:3]}, "
            f"invitations missing {inv_missing[:3]} twice {inv_twice[:3]}"
        )
    table.print()
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["elapsed_s", "rss_kib", "cpu_s", "fds", "threads"])
            for s in samples:
                writer.writerow(
                    [f"{s.elapsed:.1f}", s.rss_kib, f"{s.cpu_seconds:.2f}", s.fds, s.threads]
                )
        print(f"CSV written to {args.csv}")
    ok = all(r.verdict != "MISSED" for r in table.rows)
    write_json(
        args.json,
        {
            "bench": "soak",
            "machine": machine(),
            "imap": servers.imap_name,
            "events": args.events,
            "seconds": duration,
            "poll_seconds": args.poll_seconds,
            "rss_kib": {
                "ready": start.rss_kib,
                "at_5_min": at5.rss_kib,
                "end": end.rss_kib,
                "peak": peak,
            },
            "rss_slope_kib_per_hour": {"whole": slope_all, f"from_{warm_from:.0f}_s": slope_warm},
            "cpu_seconds": end.cpu_seconds - start.cpu_seconds,
            "fds": [start.fds, end.fds],
            "mails": len(traffic.sent),
            "kinds": dict(kinds),
            "invitations": len(traffic.invitations),
            "imap_restarts": restarts,
            "client_retries": traffic.retries,
            "replies": len(replies),
            "due_pairs": len(due_pairs),
            "missing": missing[:20],
            "answered_twice_per_kind": twice_kind[:20],
            "message_answered_twice": twice_message[:20],
            "thanks_answered": len(to_thanks),
            "invitations_missing": inv_missing[:20],
            "invitations_twice": inv_twice[:20],
            "reply_latency_p50": percentile(latencies, 50),
            "reply_latency_p95": percentile(latencies, 95),
            "exit_status": code,
            "tracebacks": output.count("Traceback"),
            "samples": [[round(s.elapsed, 1), s.rss_kib] for s in samples],
            "ok": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

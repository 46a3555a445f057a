"""Benchmark of the inbox pass (issue 4): a backlog of 1,000 mixed messages answered by ONE
`frontdesk once` (run by hand, not by pytest).

    .venv/bin/python bench/bench_inbox.py
    .venv/bin/python bench/bench_inbox.py --messages 1000 --events 2000 --json /tmp/inbox.json

Julie's calendar is in Radicale (seeded with one PUT, served as its own process), her mailbox in
Dovecot (pymap with --imap pymap); the SMTP sink records the replies and counts SMTP sessions.

1. `frontdesk once` sets the inbox position (the first start takes only mail arriving after it).
2. Floor: the same `once` with nothing new, several times, before and after.
3. The backlog is delivered into Julie's INBOX over one LMTP session: booking requests in French
   and English, price objections, thank-you notes, newsletters (List-Unsubscribe, List-Id,
   Precedence: bulk), auto-replies (Auto-Submitted), bounces (Return-Path <>), every message from
   its own sender (the rate limit allows one reply per sender per kind per 24 h).
4. ONE `frontdesk once` is timed: messages per second and replies per second (each reply is
   filed in Sent, sent over the reused SMTP connection, and the client's message flagged
   \\Answered). Target: at least 50 messages per second.
5. Checked: one reply to each booking request and objection, none to anything else, all in one
   SMTP session; Sent holds them; \\Answered on exactly the answered messages, \\Seen untouched.
6. A second floor by hand in the same run: the backlog FETCHed (BODY.PEEK[], 100 a command) in
   one IMAP session, and per reply an APPEND to Sent + an SMTP send + a STORE of \\Answered.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import random
import smtplib
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    JULIE,
    MAIL_PASSWORD,
    Incoming,
    Lmtp,
    Servers,
    Table,
    machine,
    median,
    mixed_message,
    ms,
    once,
    sec,
    write_json,
)

MIX = {
    "booking": 0.40,
    "objection": 0.10,
    "thanks": 0.15,
    "newsletter": 0.15,
    "autoreply": 0.10,
    "bounce": 0.10,
}


def backlog(total: int, seed: int = 5) -> list[Incoming]:
    tag = f"r{int(time.time())}"
    counts = {kind: int(total * share) for kind, share in MIX.items()}
    counts["booking"] += total - sum(counts.values())
    messages = [mixed_message(i, kind, tag) for kind, n in counts.items() for i in range(n)]
    random.Random(seed).shuffle(messages)
    return messages


def raw_floor(servers: Servers, replies: list[bytes], recipients: list[str]) -> dict[str, float]:
    """What the pass must do at the least, by hand over persistent connections."""
    from imapclient import IMAPClient

    assert servers.imap is not None and servers.sink is not None
    imap = IMAPClient(HOST, servers.imap.imap_port, ssl=False)
    imap.login(JULIE, MAIL_PASSWORD)
    imap.select_folder("INBOX")
    uids = sorted(imap.search(["ALL"]))
    started = time.perf_counter()
    for start in range(0, len(uids), 100):
        imap.fetch(uids[start : start + 100], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
    fetch = time.perf_counter() - started
    answered = uids[: len(replies)]
    started = time.perf_counter()
    for raw in replies:
        imap.append("Sent", raw, (b"\\Seen",))
    append = time.perf_counter() - started
    started = time.perf_counter()
    with smtplib.SMTP(HOST, servers.sink.port, timeout=60) as smtp:
        smtp.login(JULIE, MAIL_PASSWORD)
        for raw, rcpt in zip(replies, recipients, strict=True):
            smtp.sendmail(JULIE, [rcpt], raw)
    send = time.perf_counter() - started
    started = time.perf_counter()
    for uid in answered:
        imap.add_flags([uid], [b"\\Answered"], silent=True)
    store = time.perf_counter() - started
    imap.logout()
    return {"fetch": fetch, "append": append, "smtp": send, "store": store}


def inbox_flags(servers: Servers) -> tuple[dict[str, set[str]], int]:
    """Message-ID -> flags in INBOX, and the number of messages in Sent."""
    from imapclient import IMAPClient

    assert servers.imap is not None
    imap = IMAPClient(HOST, servers.imap.imap_port, ssl=False)
    imap.login(JULIE, MAIL_PASSWORD)
    imap.select_folder("INBOX", readonly=True)
    data = imap.fetch(imap.search(["ALL"]), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    flags = {}
    for item in data.values():
        header = next(v for k, v in item.items() if k.startswith(b"BODY[HEADER"))
        mid = header.decode().partition(":")[2].strip()
        flags[mid] = {f.decode() for f in item[b"FLAGS"]}
    sent = int(imap.folder_status("Sent", [b"MESSAGES"])[b"MESSAGES"])
    imap.logout()
    return flags, sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages in the backlog")
    parser.add_argument("--events", type=int, default=2000, help="events in the calendar")
    parser.add_argument(
        "--floor-reps",
        type=int,
        default=3,
        help="no-change `once` runs before and after (floor = median)",
    )
    parser.add_argument(
        "--imap",
        choices=("dovecot", "pymap"),
        default=None,
        help="IMAP server (default: Dovecot when installed)",
    )
    parser.add_argument("--radicale-mode", choices=("process", "thread"), default="process")
    parser.add_argument("--target", type=float, default=50.0, help="messages per second")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    messages = backlog(args.messages)
    expected = {m.sender.lower(): m for m in messages if m.answered}
    kinds = Counter(m.kind for m in messages)
    with Servers(events=args.events, imap=args.imap, radicale_mode=args.radicale_mode) as servers:
        assert servers.imap is not None and servers.sink is not None
        print(
            f"servers: Radicale ({args.radicale_mode}) with {args.events} events; IMAP: "
            f"{servers.imap_name}; SMTP: aiosmtpd sink"
        )
        config = servers.config()
        first = once(config)
        print(f"first start (sets the inbox position): {first.seconds:.2f} s")
        floors = [once(config).seconds for _ in range(args.floor_reps)]

        lmtp = Lmtp(servers.imap)
        started = time.perf_counter()
        for message in messages:
            lmtp.deliver(message.raw, message.sender)
        lmtp.close()
        delivery = time.perf_counter() - started
        print(
            f"{len(messages)} messages delivered in {delivery:.2f} s "
            f"({', '.join(f'{k} {n}' for k, n in kinds.items())})"
        )
        before, _ = inbox_flags(servers)

        mark = time.monotonic()
        sessions_before = servers.sink.sessions_since(0)
        run = once(config, timeout=3600)
        sent = [e for e in servers.sink.messages if e.accepted_at >= mark]
        sessions = servers.sink.sessions_since(0) - sessions_before
        carried = servers.sink.data_sessions_since(mark)
        floors += [once(config).seconds for _ in range(args.floor_reps)]
        floor = median(floors)
        after, sent_folder = inbox_flags(servers)

        recipients = Counter(r.lower() for e in sent for r in e.rcpt_tos)
        twice = sorted(r for r, n in recipients.items() if n > 1)
        unexpected = sorted(r for r in recipients if r not in expected)
        missing = sorted(r for r in expected if r not in recipients)
        answered = {mid for mid, f in after.items() if "\\Answered" in f}
        seen_changed = [
            mid
            for mid, f in before.items()
            if ("\\Seen" in f) != ("\\Seen" in after.get(mid, set()))
        ]
        replies_in = Counter(
            str(email.message_from_bytes(e.content, policy=email.policy.default)["Subject"])
            for e in sent
        )

        raw = raw_floor(servers, [e.content for e in sent], [e.rcpt_tos[0] for e in sent])

    n, n_replies = len(messages), len(sent)
    net = run.seconds - floor
    rate, gross = n / net, n / run.seconds
    reply_rate = n_replies / net if net > 0 else float("nan")
    raw_pass = raw["fetch"] + raw["append"] + raw["smtp"] + raw["store"]
    table = Table(
        f"frontdesk once: a backlog of {n} messages, {len(expected)} to answer "
        f"({servers.imap_name}, calendar of {args.events} events)"
    )
    table.add(f"once with {n} new messages", sec(run.seconds), sec(floor), f"+{sec(net)}")
    table.add(
        "messages per second (beyond floor)",
        f"{rate:.1f}/s",
        f"{n / raw_pass:.0f}/s by hand",
        target=f">= {args.target:g}/s",
        ok=rate >= args.target,
    )
    table.add(
        "messages per second (whole command)",
        f"{gross:.1f}/s",
        "",
        target=f">= {args.target:g}/s",
        ok=gross >= args.target,
    )
    table.add(
        "replies per second (beyond floor)",
        f"{reply_rate:.1f}/s",
        f"{n_replies / (raw['append'] + raw['smtp'] + raw['store']):.0f}/s by hand",
    )
    table.add(
        "  time per message",
        ms(net / n),
        ms(raw["fetch"] / n) + " FETCH by hand",
        f"x{net / n / (raw['fetch'] / n):.0f}",
    )
    table.add(
        "  time per reply (incl. its message)",
        ms(net / max(1, n_replies)),
        ms((raw["append"] + raw["smtp"] + raw["store"]) / max(1, n_replies)) + " APPEND+SMTP+STORE",
    )
    table.add("SMTP sessions (EHLO) for the pass", str(sessions), "1", target="1", ok=sessions == 1)
    table.add(
        "SMTP sessions carrying the replies",
        str(len(carried)),
        "1",
        target="1",
        ok=len(carried) == 1,
    )
    table.add(
        "replies: one per booking/objection",
        f"{n_replies}",
        f"{len(expected)}",
        target=f"{len(expected)}",
        ok=n_replies == len(expected) and not twice and not unexpected and not missing,
    )
    table.add(
        "messages flagged \\Answered",
        str(len(answered)),
        str(len(expected)),
        target=str(len(expected)),
        ok=len(answered) == len(expected),
    )
    table.add(
        "replies filed in Sent",
        str(sent_folder),
        str(len(expected)),
        target=f">= {len(expected)}",
        ok=sent_folder >= len(expected),
    )
    table.add(
        "\\Seen changed on client messages",
        str(len(seen_changed)),
        "0",
        target="0",
        ok=not seen_changed,
    )
    table.notes += [
        f"floor = median of {len(floors)} no-change `once` runs: "
        + ", ".join(f"{f:.2f}" for f in floors)
        + " s",
        f"backlog: {', '.join(f'{k} {c}' for k, c in kinds.items())}; "
        f"delivered over one LMTP session in {delivery:.2f} s",
        f"raw floor by hand: FETCH {raw['fetch']:.2f} s, APPEND {raw['append']:.2f} s, "
        f"SMTP {raw['smtp']:.2f} s, STORE {raw['store']:.2f} s",
        f"`once` printed {run.stdout.count('replied (')} 'replied' lines; reply subjects: "
        f"{dict(replies_in.most_common(6))}",
    ]
    if twice or unexpected or missing:
        table.notes.append(
            f"answered twice: {twice[:5]}; unexpected: {unexpected[:5]}; missing: {missing[:5]}"
        )
    table.print()
    ok = all(r.verdict != "MISSED" for r in table.rows if "whole command" not in r.name)
    write_json(
        args.json,
        {
            "bench": "inbox",
            "machine": machine(),
            "imap": servers.imap_name,
            "events": args.events,
            "messages": n,
            "kinds": dict(kinds),
            "expected_replies": len(expected),
            "first_start_seconds": first.seconds,
            "floor_seconds": floors,
            "floor_median": floor,
            "delivery_seconds": delivery,
            "once_seconds": run.seconds,
            "messages_per_second": rate,
            "messages_per_second_gross": gross,
            "replies": n_replies,
            "replies_per_second": reply_rate,
            "raw_floor_seconds": raw,
            "smtp_sessions": sessions,
            "smtp_sessions_carrying": len(carried),
            "answered_twice": twice,
            "unexpected": unexpected,
            "missing": missing,
            "flagged_answered": len(answered),
            "sent_folder": sent_folder,
            "seen_changed": len(seen_changed),
            "ok": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Issue 8, "no reply lost": `frontdesk run` killed with SIGKILL at random moments while it works
through a 300-request backlog, restarted each time, as systemd would. Every client is answered,
and no client gets two different replies (a reply killed after its final dot was written is sent
again with the same Message-ID). bench/bench_kill.py runs the same storm with 100 kills."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.storm import storm
from helpers import run, write_config
from test_inbox_e2e import client_mail, deliver

pytestmark = pytest.mark.servers


def test_kill_9_ten_times_in_a_300_request_backlog_loses_no_reply(
        tmp_path: Path, radicale: object, calendar_url: str, mail_account: object,
        frontdesk_bin: str) -> None:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account,
                          extra="\n[limits]\nper_hour = 100000\nper_day = 100000\n")
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    # a first start sets the inbox position: what arrives after it is the backlog
    assert run(frontdesk_bin, config, "once").returncode == 0
    senders = [f"client{i:03d}@client.example" for i in range(300)]
    for sender in senders:
        deliver(server, client_mail(sender, "Rendez-vous",
                                    "Bonjour, je voudrais prendre rendez-vous svp."))
    report = storm(frontdesk_bin, config, sink, senders, kills=10, seed=8,
                   log=tmp_path / "run.log")
    log = (tmp_path / "run.log").read_text(errors="replace")
    assert report.kills >= 1, "the backlog was answered before the first kill"
    assert report.unanswered == [], (report.unanswered[:5], log[-3000:])
    assert report.two_ids == []
    assert "Traceback" not in log

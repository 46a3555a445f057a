"""`frontdesk run` as a subprocess against real servers: it answers, declines, survives faults,
stops cleanly and talks to systemd."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import invitation, local, next_weekday, write_config
from test_inbox_e2e import client_mail, deliver

from daemon.demo.notify import NotifyListener

pytestmark = pytest.mark.servers


class Notifications(NotifyListener):
    """The shared listener; a missing notification fails the test with what was seen."""

    def wait_for(self, prefix: str, timeout: float = 30,
                 alive: Callable[[], bool] | None = None) -> str:
        try:
            return super().wait_for(prefix, timeout, alive)
        except TimeoutError as exc:
            raise AssertionError(str(exc)) from None


class Service:
    def __init__(self, frontdesk_bin: str, config: Path, folder: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.notify = Notifications(folder)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, PYTHONUNBUFFERED="1",
                   **(extra_env or {}))
        env.pop("JOURNAL_STREAM", None)
        self.log_path = folder / f"run-{time.monotonic_ns()}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen([frontdesk_bin, "--config", str(config), "run"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def ready(self, timeout: float = 60) -> None:
        self.notify.wait_for("READY=1", timeout)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.log.close()
            self.notify.close()


@pytest.fixture
def setup(tmp_path: Path, radicale: object, calendar_url: str, mail_account: object,
          frontdesk_bin: str) -> Iterator[tuple[Path, object, str]]:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account,
                          poll_seconds=2)
    yield config, mail_account, calendar_url


def replies_to(sink: object, address: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(e.content, policy=email.policy.default)
            for e in sink.messages if address in e.rcpt_tos]  # type: ignore[attr-defined]


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_answers_mail_and_declines_invitations_while_running(
        setup: tuple[Path, object, str], frontdesk_bin: str, tmp_path: Path,
        radicale: object) -> None:
    config, account, calendar_url = setup
    server, sink = account.server, account.sink  # type: ignore[attr-defined]
    service = Service(frontdesk_bin, config, tmp_path, {"WATCHDOG_USEC": "3000000"})
    try:
        service.ready()
        service.notify.wait_for("WATCHDOG=1")
        status = service.notify.wait_for("STATUS=")
        assert "calendar synced" in status
        deliver(server, client_mail("marie@client.example", "Rendez-vous",
                                    "Bonjour, avez-vous des disponibilités la semaine prochaine ?"))
        wait_until(lambda: replies_to(sink, "marie@client.example"), 30, "the booking reply")
        sat = next_weekday(5)
        radicale.put_event(calendar_url, "sat.ics", invitation(  # type: ignore[attr-defined]
            "Weekly sync", local(sat, "10:00"), local(sat, "11:00"))[1])
        wait_until(lambda: replies_to(sink, "bob@example.com"), 30, "the decline")
        assert service.notify.wait_for("STATUS=inbox watched")
    finally:
        code = service.stop()
    assert code == 0, service.output()
    out = service.output()
    assert "Traceback" not in out
    assert "replied (booking, fr) to marie@client.example" in out
    assert "declined 'Weekly sync'" in out
    assert "STOPPING=1" in service.notify.lines()
    # issue 8: status shows the passes of `run` as it shows those of `once`
    status = subprocess.run([frontdesk_bin, "--config", str(config), "status"],
                            capture_output=True, text=True, timeout=60).stdout
    assert "last pass:        never" not in status and "last pass:" in status
    assert "1 reply sent" in status and "1 invitation declined" in status, status


def test_calendar_down_at_first_start_booking_requests_wait_then_are_answered_once(
        tmp_path: Path, mail_account: object, frontdesk_bin: str) -> None:
    """Issue 8: no time is offered from a calendar that never synced. The request waits,
    recorded; when the calendar answers, it is answered once, with slots from that calendar."""
    from daemon.demo.radicale import RadicaleServer, free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/julie/work/"
    config = write_config(tmp_path / "julie", calendar_url=url, mail=mail_account,
                          poll_seconds=2)
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    service = Service(frontdesk_bin, config, tmp_path)
    try:
        service.ready()  # ready although the calendar is down: it is retried with backoff
        deliver(server, client_mail("early@client.example", "Rendez-vous",
                                    "Bonjour, je voudrais prendre rendez-vous bientôt."))
        wait_until(lambda: "waiting: early@client.example" in service.output(), 30,
                   "the request to wait")
        time.sleep(2)
        assert replies_to(sink, "early@client.example") == []
        status = subprocess.run([frontdesk_bin, "--config", str(config), "status"],
                                capture_output=True, text=True, timeout=60).stdout
        assert "1 email waits for the calendar" in status, status
        tue = next_weekday(1)
        with RadicaleServer(tmp_path / "radicale", {"julie": "secret"}, port=port) as radicale:
            radicale.create_calendar("julie", "work")
            # Julie's next Tuesday is taken: the reply must not offer it
            radicale.put_event(url, "busy.ics", invitation(
                "Private", local(tue, "09:00"), local(tue, "17:00"), partstat="ACCEPTED")[1])
            wait_until(lambda: replies_to(sink, "early@client.example"), 120,
                       "the answer once the calendar is back")
            time.sleep(3)
            (reply,) = replies_to(sink, "early@client.example")
            slots = subprocess.run([frontdesk_bin, "--config", str(config), "slots"],
                                   capture_output=True, text=True, timeout=60).stdout
    finally:
        assert service.stop() == 0
    body = reply.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    offered = [line for line in slots.splitlines() if line[:2] in {f"{n}." for n in range(1, 6)}]
    assert offered and all(line in body for line in offered), (offered, body)
    assert not any(f"mardi {tue.day} " in line for line in offered)  # the busy Tuesday


def test_sigterm_while_idle_exits_zero(setup: tuple[Path, object, str], frontdesk_bin: str,
                                       tmp_path: Path) -> None:
    config, _, _ = setup
    service = Service(frontdesk_bin, config, tmp_path)
    service.ready()
    started = time.monotonic()
    code = service.stop(timeout=10)
    assert code == 0
    print(f"SIGTERM to exit: {time.monotonic() - started:.2f} s")


def test_sighup_reloads_and_refuses_a_bad_configuration(
        setup: tuple[Path, object, str], frontdesk_bin: str, tmp_path: Path) -> None:
    config, account, _ = setup
    server, sink = account.server, account.sink  # type: ignore[attr-defined]
    good = config.read_text()
    service = Service(frontdesk_bin, config, tmp_path)
    try:
        service.ready()
        config.write_text(good.replace('timezone = "America/Toronto"', 'timezone = "Montreal"'))
        service.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "old one is kept" in service.output(), 20, "the refused reload")
        assert service.proc.poll() is None
        config.write_text(good.replace('language = "fr"', 'language = "en"'))
        service.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in service.output(), 20, "the reload")
        deliver(server, client_mail("ann@client.example", "Appointment",
                                    "Hello, can I book an appointment next week?"))
        wait_until(lambda: replies_to(sink, "ann@client.example"), 30, "a reply after reload")
    finally:
        assert service.stop() == 0


def test_invalid_configuration_at_start_exits_78(frontdesk_bin: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[freelancer]\nname = 1\n")
    result = subprocess.run([frontdesk_bin, "--config", str(bad), "run"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 78
    assert "Traceback" not in result.stderr


def test_servers_stopped_and_restarted_under_it(setup: tuple[Path, object, str],
                                                frontdesk_bin: str, tmp_path: Path,
                                                radicale: object) -> None:
    config, account, _ = setup
    server, sink = account.server, account.sink  # type: ignore[attr-defined]
    service = Service(frontdesk_bin, config, tmp_path)
    try:
        service.ready()
        server.stop()
        sink.stop()
        time.sleep(3)
        server.restart()
        deliver(server, client_mail("lost@client.example", "Rendez-vous",
                                    "Bonjour, je voudrais prendre rendez-vous."))
        time.sleep(2)
        sink.restart()
        wait_until(lambda: replies_to(sink, "lost@client.example"), 90, "the reply after restart")
        time.sleep(3)
        assert len(replies_to(sink, "lost@client.example")) == 1
    finally:
        assert service.stop() == 0
    out = service.output()
    assert "Traceback" not in out
    assert "retrying with backoff" in out
    # one log line per fault, not one per attempt
    assert out.count("mail: ") <= 3, out


def test_smtp_4xx_is_retried_and_5xx_recorded(setup: tuple[Path, object, str],
                                              frontdesk_bin: str, tmp_path: Path) -> None:
    config, account, _ = setup
    server, sink = account.server, account.sink  # type: ignore[attr-defined]
    service = Service(frontdesk_bin, config, tmp_path)
    try:
        service.ready()
        sink.fail_next(451, "try again later")
        deliver(server, client_mail("temp@client.example", "RDV", "Bonjour, un rendez-vous ?"))
        wait_until(lambda: replies_to(sink, "temp@client.example"), 60, "the retried reply")
        sink.fail_next(550, "no such user", at="RCPT")
        deliver(server, client_mail("gone@client.example", "RDV", "Bonjour, un rendez-vous ?"))
        wait_until(lambda: "could not reply to gone@client.example" in service.output(), 30,
                   "the 5xx failure")
    finally:
        assert service.stop() == 0
    status = subprocess.run([frontdesk_bin, "--config", str(config), "status"],
                            capture_output=True, text=True, timeout=60)
    assert "gone@client.example" in status.stdout
    assert len(replies_to(sink, "temp@client.example")) == 1


def test_kill_9_in_an_80_message_backlog_answers_each_with_one_message_id(
        setup: tuple[Path, object, str], frontdesk_bin: str, tmp_path: Path) -> None:
    config, account, _ = setup
    with config.open("a") as extra:  # 80 clients at once is over any honest cap
        extra.write("\n[limits]\nper_hour = 100000\nper_day = 100000\n")
    server, sink = account.server, account.sink  # type: ignore[attr-defined]
    first = Service(frontdesk_bin, config, tmp_path)
    first.ready()
    assert first.stop() == 0  # the position is set: what arrives now is the backlog
    # (the 300-request storm with 10 kills is tests/test_kill.py; here the service itself,
    # killed once in the middle of its backlog, is started again)
    senders = [f"client{i:03d}@client.example" for i in range(80)]
    for sender in senders:
        deliver(server, client_mail(sender, "Rendez-vous", "Bonjour, un rendez-vous svp ?"))
    second = Service(frontdesk_bin, config, tmp_path)
    wait_until(lambda: len(sink.messages) >= 20, 120, "the first replies")
    second.proc.send_signal(signal.SIGKILL)
    second.proc.wait(10)
    second.log.close()
    second.notify.close()
    third = Service(frontdesk_bin, config, tmp_path)
    try:
        try:
            wait_until(lambda: all(replies_to(sink, s) for s in senders), 300, "every reply")
        except AssertionError:
            missing = [s for s in senders if not replies_to(sink, s)]
            raise AssertionError(f"no reply to {missing}; before the kill:\n"
                                 f"{second.output()[-2000:]}\nafter:\n"
                                 f"{third.output()[-3000:]}") from None
        time.sleep(2)
    finally:
        assert third.stop() == 0
    # issue 8: every client answered; a reply killed after its final dot was written is sent
    # again, with the same Message-ID (one message in the client's mail program), never two
    ids = {s: {str(m["Message-ID"]) for m in replies_to(sink, s)} for s in senders}
    assert [s for s, found in ids.items() if len(found) != 1] == []

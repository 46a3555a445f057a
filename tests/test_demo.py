"""`frontdesk demo`: the main job on local servers, no root, no account; `--send` mails it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers


def test_demo_shows_the_decline_the_replies_and_what_was_left_alone(
        frontdesk_bin: str, tmp_path: Path) -> None:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    result = subprocess.run([frontdesk_bin, "demo", "--no-wait"], capture_output=True, text=True,
                            timeout=240, env=env)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in out + result.stderr
    assert "declined 'Weekly sync' from bob@partner.example" in out
    assert out.count("frontdesk sent a reply") == 3
    assert "frontdesk sent a decline (iMIP)" in out
    assert "Bonjour Marie" in out and "Hello John" in out
    assert "trois versements" in out  # the price objection's options
    left_alone = out.split("Left alone, and why", 1)[1]
    assert "mailing list" in left_alone and "Auto-Submitted" in left_alone
    assert "Mme Lavoie" not in out.split("frontdesk sent a reply", 1)[1]  # private titles
    folder = re.search(r"Configuration: (\S+)/frontdesk.toml", out)
    assert folder and not Path(folder.group(1)).exists()  # cleaned up


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a background job


def test_demo_send_gets_an_answer_and_ctrl_c_cleans_up(frontdesk_bin: str,
                                                       tmp_path: Path) -> None:
    """Issue 11 items 15-17: output shows line by line through a pipe, Ctrl-C stops a demo
    started with SIGINT ignored, `--send --from` any address gets its answer, and whatever
    happens every child is stopped."""
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    env.pop("PYTHONUNBUFFERED", None)
    log = (tmp_path / "demo.log").open("w")
    demo = subprocess.Popen([frontdesk_bin, "demo"], stdout=log, stderr=subprocess.STDOUT,
                            env=env, preexec_fn=_ignore_sigint, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C stops the demo" not in (tmp_path / "demo.log").read_text():
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "the demo never became ready"
            time.sleep(0.5)
        sent = subprocess.run([frontdesk_bin, "demo", "--send",
                               "Bonjour, êtes-vous disponible mardi prochain ?"],
                              capture_output=True, text=True, timeout=60, env=env)
        assert sent.returncode == 0, sent.stderr
        assert "Subject: Re: Rendez-vous" in sent.stdout and "1." in sent.stdout
        stranger = subprocess.run([frontdesk_bin, "demo", "--send", "Hello, can I book a "
                                   "massage next week?", "--from", "nadia@elsewhere.example",
                                   "--subject", "Booking"],
                                  capture_output=True, text=True, timeout=60, env=env)
        assert stranger.returncode == 0, stranger.stderr
        assert "Traceback" not in stranger.stderr
        assert "To: nadia@elsewhere.example" in stranger.stdout
        bad = subprocess.run([frontdesk_bin, "demo", "--send", "hi", "--from", "not-an-address"],
                             capture_output=True, text=True, timeout=60, env=env)
        assert bad.returncode == 1 and "not an email address" in bad.stderr
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=30)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)  # the demo, frontdesk run, pymap: all of them
            demo.wait(10)
        log.close()
    assert code == 0
    out = (tmp_path / "demo.log").read_text()
    assert "Traceback" not in out
    assert not list(tmp_path.glob("frontdesk-demo-*.json"))
    folder = re.search(r"Configuration: (\S+)/frontdesk.toml", out)
    assert folder and not Path(folder.group(1)).exists()


def test_send_without_a_running_demo_says_so(frontdesk_bin: str, tmp_path: Path) -> None:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    result = subprocess.run([frontdesk_bin, "demo", "--send", "hello"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "no demo is running" in result.stderr

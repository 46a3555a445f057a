"""The unit files: `systemd-analyze verify` prints nothing, the system units score <= 2.0, and
the README's three ways to install them give a service that starts, run as systemd would run it.

The last part needs root (to be the unprivileged service user with setpriv, and to lay out
/etc/frontdesk and /var/lib in a private mount namespace over overlays, so the machine's own are
untouched); it is skipped, with the reason, where the machine cannot. This file is also the
script that does it inside that namespace: `python tests/test_systemd.py simulate` (stdlib only).
"""

from __future__ import annotations

import codecs
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "systemd"
SYSTEM_UNITS = ["frontdesk.service", "frontdesk@.service"]

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed")


def analyze(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(exist_ok=True, mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), SYSTEMD_LOG_COLOR="0")
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@needs_analyze
@pytest.mark.parametrize("unit", SYSTEM_UNITS)
def test_verify_prints_nothing(unit: str, tmp_path: Path) -> None:
    # a template is verified through an instance, as systemd would load it
    target = tmp_path / unit.replace("@.", "@julie.")
    shutil.copy(UNITS / unit, target)
    result = analyze("verify", str(target), tmp_path=tmp_path)
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


@needs_analyze
def test_user_unit_verifies(tmp_path: Path) -> None:
    result = analyze("verify", "--user", str(UNITS / "user" / "frontdesk.service"),
                     tmp_path=tmp_path)
    if "Failed to initialize manager" in result.stderr:
        pytest.skip("no user manager can start here: " + result.stderr.strip())
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


def exposure(path: Path, tmp_path: Path) -> float:
    result = analyze("security", "--offline=yes", str(path), tmp_path=tmp_path)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


@needs_analyze
@pytest.mark.parametrize("unit", SYSTEM_UNITS)
def test_system_units_are_hardened(unit: str, tmp_path: Path) -> None:
    assert exposure(UNITS / unit, tmp_path) <= 2.0


@needs_analyze
def test_user_unit_score_is_reported(tmp_path: Path) -> None:
    score = exposure(UNITS / "user" / "frontdesk.service", tmp_path)
    print(f"user unit exposure: {score}")
    assert score <= 5.0  # a user manager cannot drop what the system one can; README has it


@pytest.mark.parametrize("unit", [*SYSTEM_UNITS, "user/frontdesk.service"])
def test_units_have_what_the_issue_asks(unit: str) -> None:
    text = (UNITS / unit).read_text()
    for line in ("Type=notify", "RestartPreventExitStatus=78", "Restart=on-failure",
                 "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=",
                 "WatchdogSec=", "StateDirectory="):
        assert line in text, f"{unit} lacks {line}"
    if unit in SYSTEM_UNITS:
        for line in ("DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes",
                     "CapabilityBoundingSet=\n", "LoadCredential="):
            assert line in text, f"{unit} lacks {line}"


def test_instance_reads_its_own_files() -> None:
    text = (UNITS / "frontdesk@.service").read_text()
    assert "LoadCredential=frontdesk.toml:/etc/frontdesk/%i.toml" in text
    assert "LoadCredential=%i.caldav-password:/etc/frontdesk/%i.caldav-password" in text
    assert "StateDirectory=frontdesk-%i" in text


@pytest.mark.parametrize("unit", [*SYSTEM_UNITS, "user/frontdesk.service"])
def test_units_point_at_the_readme_and_keep_their_state_private(unit: str) -> None:
    text = (UNITS / unit).read_text()
    assert re.search(r"^Documentation=file:\S*/share/doc/frontdesk/README.md$", text, re.M)
    assert "StateDirectoryMode=0700" in text
    if unit in SYSTEM_UNITS:
        # credentials are read at start only: a reload would silently keep the old file
        assert "ExecReload=" not in text
        assert re.search(r"^ExecStart=/usr/bin/env frontdesk run$", text, re.M)


# --- The README's commands, run as systemd would run the service (issue 11, items 1 and 2) -------

SERVICE_UID = 61234  # in systemd's DynamicUser= range, 61184-65519
USER_UID = 61235  # the person of the user unit
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def readme_blocks() -> list[list[str]]:
    """The shell blocks of the README's "Running under systemd": system, instance, user."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Running under systemd\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", section,
                                                                re.S)]


@cache
def cannot_simulate() -> str | None:
    """Why this machine cannot play systemd's part, or None."""
    if os.geteuid() != 0:
        return "needs root, to run the service as an unprivileged user and to mount"
    for tool in ("setpriv", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    with tempfile.TemporaryDirectory() as d:
        probe = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             f"mount -t tmpfs none {d} && mkdir {d}/u {d}/w && "
             f"mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/u,workdir={d}/w /etc"],
            capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return "no private mount namespace with overlays here: " + probe.stderr.strip()
    return None


def init_answers(calendar_url: str, account: Any) -> tuple[list[str], str]:
    """What the person answers `frontdesk init` (local test servers, hence no TLS)."""
    flags = ["--name", "Julie Tremblay", "--email", account.address,
             "--timezone", "America/Toronto", "--language", "fr",
             "--days", "monday,tuesday,thursday", "--hours", "09:00-12:00,13:00-17:00",
             "--calendar-url", calendar_url, "--calendar-username", "julie",
             "--imap-host", f"127.0.0.1:{account.imap_port}",
             "--smtp-host", f"127.0.0.1:{account.smtp_port}",
             "--imap-security", "none", "--smtp-security", "none"]
    return flags, f"secret\n{account.password}\n"  # the CalDAV, then the mail password


def simulate_readme(block: list[str], scope: str, frontdesk_bin: str, calendar_url: str,
                    account: Any) -> dict[str, Any]:
    """Run the README block in a private mount namespace (this file as a script) and return
    what each command printed and what the service did."""
    work = Path(tempfile.mkdtemp(prefix="frontdesk-systemd-", dir="/tmp"))
    try:
        work.chmod(0o755)
        flags, stdin = init_answers(calendar_url, account)
        order = {"block": block, "scope": scope, "frontdesk_bin": frontdesk_bin,
                 "init_flags": flags, "init_stdin": stdin, "work": str(work),
                 "repo": str(REPO)}
        result = subprocess.run(
            ["unshare", "-m", "--propagation", "private", sys.executable, __file__, "simulate"],
            input=json.dumps(order), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        report: dict[str, Any] = json.loads(result.stdout)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def step(report: dict[str, Any], prefix: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in report["steps"] if s["line"].startswith(prefix))
    return found


@pytest.fixture
def simulation() -> None:
    reason = cannot_simulate()
    if reason:
        pytest.skip(reason)


@pytest.mark.servers
@pytest.mark.usefixtures("simulation")
def test_issue_11_1_the_system_service_of_the_readme_starts(
        frontdesk_bin: str, calendar_url: str, mail_account: object) -> None:
    block = readme_blocks()[0]
    assert "frontdesk.service" in block[0]
    report = simulate_readme(block, "system", frontdesk_bin, calendar_url, mail_account)
    for s in report["steps"]:
        assert s["rc"] == 0, s
    init = step(report, "frontdesk init")
    assert init["stdout"].startswith("wrote /etc/frontdesk/frontdesk.toml\n"
                                     "wrote /etc/frontdesk/caldav-password (mode 600)\n"
                                     "wrote /etc/frontdesk/mail-password (mode 600)\n")
    assert "FAIL" not in init["stdout"]
    assert ("state /var/lib/frontdesk (the StateDirectory of frontdesk.service, which reads "
            "/etc/frontdesk/frontdesk.toml)") in init["stdout"]
    service = report["service"]
    assert service["unit"] == "frontdesk.service"
    assert service["rc"] == 0, service["log"]
    assert "READY=1" in service["notify"], service["log"]
    assert any(line.startswith("STATUS=inbox watched, calendar synced")
               for line in service["notify"]), service
    assert "Traceback" not in service["log"]
    # issue 11 item 2: root's `frontdesk status` finds the service's state, not its own
    status = step(report, "frontdesk status")["stdout"]
    assert status.startswith("state:            /var/lib/frontdesk\n"), status
    assert "has not run" not in status
    assert report["state_owner"] == SERVICE_UID and report["state_mode"] == 0o700


@pytest.mark.servers
@pytest.mark.usefixtures("simulation")
def test_issue_11_1_the_instance_of_the_readme_starts(
        frontdesk_bin: str, calendar_url: str, mail_account: object) -> None:
    block = readme_blocks()[1]
    assert "frontdesk@julie" in block[0]
    report = simulate_readme(block, "system", frontdesk_bin, calendar_url, mail_account)
    for s in report["steps"]:
        assert s["rc"] == 0, s
    assert step(report, "frontdesk init")["stdout"].startswith(
        "wrote /etc/frontdesk/julie.toml\nwrote /etc/frontdesk/julie.caldav-password (mode 600)\n")
    service = report["service"]
    assert service["unit"] == "frontdesk@julie.service"
    assert service["rc"] == 0 and "READY=1" in service["notify"], service
    status = step(report, "frontdesk --config /etc/frontdesk/julie.toml status")["stdout"]
    assert status.startswith("state:            /var/lib/frontdesk-julie\n"), status


@pytest.mark.servers
@pytest.mark.usefixtures("simulation")
def test_issue_11_1_the_user_service_of_the_readme_starts_and_reloads(
        frontdesk_bin: str, calendar_url: str, mail_account: object) -> None:
    block = readme_blocks()[2]
    assert "user service" in block[0]
    report = simulate_readme(block, "user", frontdesk_bin, calendar_url, mail_account)
    for s in report["steps"]:
        assert s["rc"] == 0, s
    home = report["home"]
    assert step(report, "frontdesk init")["stdout"].startswith(
        f"wrote {home}/.config/frontdesk/frontdesk.toml\n")
    service = report["service"]
    assert service["unit"] == "frontdesk.service"
    assert service["rc"] == 0, service["log"]
    assert service["notify"].count("READY=1") >= 2 and "RELOADING=1" in service["notify"]
    assert "configuration reloaded" in service["log"]
    status = step(report, "frontdesk status")["stdout"]
    assert status.startswith(f"state:            {home}/.local/state/frontdesk\n"), status
    assert report["state_owner"] == USER_UID and report["state_mode"] == 0o700


# --- The script: systemd's part, inside the private mount namespace ------------------------------


class Notify:
    """systemd's end of NOTIFY_SOCKET: records what the service says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        path.chmod(0o777)
        self.sock.settimeout(0.2)
        self.lines: list[str] = []
        self.done = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.done:
            try:
                self.lines.extend(self.sock.recv(65536).decode().split("\n"))
            except OSError:
                continue

    def wait(self, line: str, count: int = 1, timeout: float = 90,
             proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
        deadline = time.monotonic() + timeout
        while sum(1 for seen in self.lines if seen.startswith(line)) < count:
            gone = proc is not None and proc.poll() is not None
            if gone or time.monotonic() > deadline:
                said = log.read_text(errors="replace") if log else ""
                raise AssertionError(f"no {line!r} from the service (exit status "
                                     f"{proc.poll() if proc else None}); saw {self.lines}; "
                                     f"it said: {said}")
            time.sleep(0.05)


def unit_settings(path: Path, specifiers: dict[str, str]) -> dict[str, list[str]]:
    """The [Service] settings of a unit file, specifiers expanded, each key to its values."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            expanded = re.sub(r"%(.)", lambda m: specifiers.get(m.group(1), m.group(0)), value)
            settings.setdefault(key, []).append(expanded)
    return settings


def as_user(uid: int, argv: list[str], env: dict[str, str], umask: str = "0022",
            mounts: str = "") -> list[str]:
    """argv run as `uid` (no groups, no capabilities), after `mounts` in a namespace of its own."""
    inner = (f"{mounts} umask {umask} && exec setpriv --reuid={uid} --regid={uid} "
             "--clear-groups --inh-caps=-all env -i "
             + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " "
             + " ".join(shlex.quote(a) for a in argv))
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", inner]


class Systemd:
    """What systemd does for `systemctl enable --now UNIT` and the rest, for one scope."""

    def __init__(self, order: dict[str, Any], work: Path, home: Path | None) -> None:
        self.order = order
        self.work = work
        self.home = home
        self.user = order["scope"] == "user"
        self.proc: subprocess.Popen[bytes] | None = None
        self.notify: Notify | None = None
        self.unit = ""
        self.log = work / "service.log"
        self.state: Path | None = None

    def start(self, name: str) -> None:
        self.unit = name if name.endswith(".service") else f"{name}.service"
        prefix, _, rest = self.unit.partition("@")
        instance = rest.removesuffix(".service")
        template = f"{prefix}@.service" if instance else self.unit
        where = (self.home / ".config/systemd/user") if self.home else Path("/etc/systemd/system")
        specifiers = {"i": instance, "%": "%"}
        if self.home:
            specifiers.update(h=str(self.home), S=str(self.home / ".local/state"))
        unit = unit_settings(where / template, specifiers)
        uid = USER_UID if self.user else SERVICE_UID
        env = {"PATH": DEFAULT_PATH, "HOME": str(self.home) if self.home else "/",
               "LANG": "C.UTF-8"}
        for assignment in unit.get("Environment", []):
            env.update(item.split("=", 1) for item in shlex.split(assignment))
        # credentials: copies only the service user can read (dir 0500, files 0400)
        creds = self.work / "credentials" / self.unit
        defaults = {v.split(":", 1)[0]: v.split(":", 1)[1] for v in unit.get("SetCredential", [])}
        loads = unit.get("LoadCredential", [])
        if loads:
            creds.mkdir(parents=True)
            for load in loads:
                ident, source = load.split(":", 1)
                try:
                    data = Path(source).read_bytes()
                except FileNotFoundError:
                    assert ident in defaults, f"systemd would not start: no {source}"
                    data = codecs.decode(defaults[ident], "unicode_escape").encode()
                (creds / ident).write_bytes(data)
                (creds / ident).chmod(0o400)
                os.chown(creds / ident, uid, uid)
            creds.chmod(0o500)
            os.chown(creds, uid, uid)
            env["CREDENTIALS_DIRECTORY"] = str(creds)
        # the state directory, with DynamicUser= in /var/lib/private behind a link
        name = unit["StateDirectory"][0]
        mode = int(unit.get("StateDirectoryMode", ["0755"])[0], 8)
        mounts = ""
        if self.home:
            state = self.home / ".local/state" / name
            state.mkdir(parents=True, exist_ok=True)
            for folder in (self.home / ".local", self.home / ".local/state", state):
                os.chown(folder, uid, uid)
        else:
            assert unit.get("DynamicUser") == ["yes"]
            private = Path("/var/lib/private")
            private.mkdir(mode=0o700, exist_ok=True)
            state = private / name
            state.mkdir()
            os.chown(state, uid, uid)
            Path("/var/lib", name).symlink_to(f"private/{name}")
            hidden = self.work / "state-bind"
            hidden.mkdir()
            # in the service's own namespace, /var/lib/private opens onto its folder only
            mounts = (f"mount --bind {state} {hidden} && mount -t tmpfs -o mode=0755 tmpfs "
                      f"{private} && mkdir {state} && mount --bind {hidden} {state} &&")
            state = Path("/var/lib", name)
        state.chmod(mode) if not state.is_symlink() else (private / name).chmod(mode)
        self.state = state
        env["STATE_DIRECTORY"] = str(state)
        self.notify = Notify(self.work / "notify.sock")
        env["NOTIFY_SOCKET"] = str(self.notify.path)
        watchdog = unit.get("WatchdogSec", ["0s"])[0].removesuffix("s")
        env["WATCHDOG_USEC"] = str(int(watchdog) * 1_000_000)
        argv = shlex.split(unit["ExecStart"][0])
        umask = unit.get("UMask", ["0022"])[0]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(as_user(uid, argv, env, umask, mounts),
                                         stdout=log, stderr=subprocess.STDOUT)
        self.notify.wait("READY=1", proc=self.proc, log=self.log)
        self.notify.wait("STATUS=inbox watched", proc=self.proc, log=self.log)

    def reload(self) -> None:
        assert self.proc is not None and self.notify is not None
        ready = self.notify.lines.count("READY=1")
        self.proc.send_signal(signal.SIGHUP)  # ExecReload=/bin/kill -HUP $MAINPID
        self.notify.wait("RELOADING=1")
        self.notify.wait("READY=1", ready + 1)

    def stop(self) -> dict[str, Any]:
        assert self.proc is not None and self.notify is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        time.sleep(0.3)
        self.notify.done = True
        return {"unit": self.unit, "rc": rc, "notify": self.notify.lines,
                "log": self.log.read_text(errors="replace")}


def overlay(work: Path, *folders: str) -> None:
    """Each folder writable for this namespace only: the machine's own stays as it is."""
    base = work / "overlay"
    if not base.exists():
        base.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "none", str(base)], check=True)
    for folder in folders:
        name = folder.strip("/").replace("/", "-")
        (base / f"{name}-up").mkdir()
        (base / f"{name}-work").mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={folder},upperdir={base}/{name}-up,"
                        f"workdir={base}/{name}-work", folder], check=True)


def open_the_way(work: Path, frontdesk: str) -> None:
    """Let any user reach the Python that runs `frontdesk`, in this namespace only. The README
    installs it in /usr/local or /opt; a test machine may have it under /root (mode 700), which
    no service user could run either."""
    shebang = Path(frontdesk).read_text().splitlines()[0].removeprefix("#!").split()[0]
    closed = [folder for folder in Path(os.path.realpath(shebang)).parents
              if not folder.stat().st_mode & 0o001]
    if closed:
        overlay(work, str(closed[-1]))
        for folder in closed:
            folder.chmod(folder.stat().st_mode | 0o001)


def run_block(order: dict[str, Any]) -> dict[str, Any]:
    work = Path(order["work"])
    frontdesk = order["frontdesk_bin"]
    user = order["scope"] == "user"
    open_the_way(work, frontdesk)
    home: Path | None = None
    if user:
        home = work / "home"
        (home / ".local/bin").mkdir(parents=True)
        for folder in (home, home / ".local", home / ".local/bin"):
            os.chown(folder, USER_UID, USER_UID)
        (home / ".local/bin/frontdesk").symlink_to(frontdesk)  # as `pipx install .` does
        path = f"{home}/.local/bin:{DEFAULT_PATH}"
        env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "USER": "julie"}
    else:
        overlay(work, "/etc", "/var/lib", "/usr/local")
        Path("/usr/local/bin/frontdesk").symlink_to(frontdesk)  # "a venv, linked there"
        root_home = work / "root-home"
        root_home.mkdir()
        env = {"PATH": DEFAULT_PATH, "HOME": str(root_home), "LANG": "C.UTF-8"}
    systemd = Systemd(order, work, home)
    steps: list[dict[str, Any]] = []
    service: dict[str, Any] = {}
    try:
        for line in order["block"]:
            argv = shlex.split(line, comments=True)
            if not argv:
                continue
            if argv[0] == "systemctl":
                verb = [a for a in argv[1:] if not a.startswith("--")]
                if verb[0] == "enable" and "--now" in argv:
                    systemd.start(verb[1])
                elif verb[0] == "reload":
                    systemd.reload()
                elif verb[0] not in ("daemon-reload", "status"):
                    raise AssertionError(f"the simulation does not know {line!r}")
                continue
            if argv[0] in ("journalctl", "loginctl"):
                continue
            stdin = ""
            if argv[:2] == ["frontdesk", "init"]:
                argv += order["init_flags"]
                stdin = order["init_stdin"]
            if argv[0] not in ("frontdesk", "install"):
                raise AssertionError(f"the simulation does not know {line!r}")
            command = ["sh", "-c", " ".join(shlex.quote(a) for a in argv)]
            if user:  # `~` is expanded by the person's shell
                command = ["sh", "-c", line.split(" #")[0]] if "~" in line else command
                command = as_user(USER_UID, command, env)
            result = subprocess.run(command, input=stdin, capture_output=True, text=True,
                                    cwd=order["repo"], env=env, timeout=120)
            steps.append({"line": line.split(" #")[0].strip(), "rc": result.returncode,
                          "stdout": result.stdout, "stderr": result.stderr})
    finally:
        if systemd.proc is not None:
            service = systemd.stop()
    state = systemd.state.resolve() if systemd.state else None
    return {"steps": steps, "service": service, "home": str(home) if home else "",
            "state_owner": state.stat().st_uid if state else None,
            "state_mode": state.stat().st_mode & 0o7777 if state else None}


def _main(argv: list[str]) -> int:
    if argv[1:] != ["simulate"]:
        print("usage: python tests/test_systemd.py simulate < order.json", file=sys.stderr)
        return 64
    print(json.dumps(run_block(json.load(sys.stdin))))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))

"""A Radicale 3 CalDAV server on 127.0.0.1, for the tests, the benchmark and `frontdesk demo`.

In-process (a thread running `radicale.server.serve`, fsync off: fast, for tests) or as a
subprocess (`python -m radicale --config FILE`: it can be killed and restarted under a client,
and it outlives nothing but its owner). Plain htpasswd users, owner_only rights, one folder.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class RadicaleError(RuntimeError):
    pass


class RadicaleServer:
    """Radicale on 127.0.0.1:`port`, storing in `folder`, with `users` (name -> password)."""

    def __init__(
        self,
        folder: Path,
        users: Mapping[str, str],
        *,
        port: int | None = None,
        mode: Literal["thread", "process"] = "thread",
        fsync: bool = False,
        log_level: str = "warning",
    ) -> None:
        self.folder = Path(folder)
        self.users = dict(users)
        self.port = port or free_port()
        self.mode = mode
        self.fsync = fsync
        self.log_level = log_level
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._shutdown: socket.socket | None = None
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return self._thread is not None and self._thread.is_alive()

    def _write_files(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        storage = self.folder / "collections"
        storage.mkdir(exist_ok=True)
        users = self.folder / "users"
        users.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        users.chmod(0o600)
        return storage

    def _settings(self) -> dict[str, dict[str, str]]:
        storage = self._write_files()
        return {
            "server": {"hosts": f"{HOST}:{self.port}"},
            "auth": {
                "type": "htpasswd",
                "htpasswd_filename": str(self.folder / "users"),
                "htpasswd_encryption": "plain",
                # No penalty delay after a wrong password: tests try one on purpose.
                "delay": "0",
            },
            "rights": {"type": "owner_only"},
            "storage": {"filesystem_folder": str(storage)},
            "logging": {"level": self.log_level},
        }

    def start(self) -> RadicaleServer:
        if self.running:
            return self
        if self.mode == "process":
            self._start_subprocess()
        else:
            self._start_thread()
        self._wait_ready()
        return self

    def _start_thread(self) -> None:
        import radicale.config
        import radicale.server

        configuration = radicale.config.load()
        configuration.update(self._settings(), "frontdesk RadicaleServer")
        if not self.fsync:
            # Only settable in-process (privileged): skips fsync on every write.
            configuration.update(
                {"storage": {"_filesystem_fsync": "False"}}, "frontdesk RadicaleServer", True
            )
        ours, theirs = socket.socketpair()
        self._shutdown = ours
        self._error = None

        def run() -> None:
            try:
                radicale.server.serve(configuration, theirs)
            except BaseException as exc:
                self._error = exc

        self._thread = threading.Thread(target=run, name=f"radicale:{self.port}", daemon=True)
        self._thread.start()

    def _start_subprocess(self) -> None:
        config = self.folder / "config"
        lines = []
        for section, values in self._settings().items():
            lines.append(f"[{section}]")
            lines += [f"{k} = {v}" for k, v in values.items()]
        config.write_text("\n".join(lines) + "\n")
        log = (self.folder / "radicale.log").open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()

    def _wait_ready(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RadicaleError(f"Radicale on port {self.port} stopped at start: {self._why()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.01)
        self.stop()
        raise RadicaleError(f"Radicale did not listen on port {self.port} within {timeout} s")

    def _why(self) -> str:
        if self._error is not None:
            return repr(self._error)
        log = self.folder / "radicale.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "no log"

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None
        if self._thread is not None:
            assert self._shutdown is not None
            self._shutdown.close()
            self._thread.join(10)
            self._thread = None
            self._shutdown = None

    def kill(self) -> None:
        """Stop a subprocess server abruptly (SIGKILL), as a crash would."""
        if self._process is None:
            self.stop()
            return
        self._process.kill()
        self._process.wait(10)
        self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start()

    def __enter__(self) -> RadicaleServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers over plain HTTP -------------------------------------------------------------

    def calendar_url(self, user: str, name: str) -> str:
        return f"{self.url}/{quote(user)}/{quote(name)}/"

    def request(
        self,
        method: str,
        url: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        user: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request as `user` (by default the owner named by the URL's first segment)."""
        path = urlsplit(url).path or "/"
        if user is None:
            user = unquote(path.strip("/").split("/", 1)[0])
        password = self.users.get(user, "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        sent = {"Authorization": f"Basic {token}", **(headers or {})}
        conn = http.client.HTTPConnection(HOST, self.port, timeout=300)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def _expect(self, what: str, answer: tuple[int, dict[str, str], bytes], *ok: int) -> None:
        status, _, body = answer
        if status not in ok:
            raise RadicaleError(f"{what}: {status} {body[:300]!r}")

    def create_calendar(self, user: str, name: str, ics: bytes | None = None) -> str:
        """A new calendar; with `ics` (one VCALENDAR holding every event), seeded by a single PUT
        of the whole collection, which is far faster than one PUT per event."""
        url = self.calendar_url(user, name)
        if ics is None:
            body = (
                b'<?xml version="1.0" encoding="utf-8"?>'
                b'<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                b"<D:set><D:prop><C:supported-calendar-component-set>"
                b'<C:comp name="VEVENT"/></C:supported-calendar-component-set>'
                b"</D:prop></D:set></C:mkcalendar>"
            )
            answer = self.request("MKCALENDAR", url, body, {"Content-Type": "application/xml"})
        else:
            answer = self.request("PUT", url, ics, {"Content-Type": "text/calendar"})
        self._expect(f"create {url}", answer, 201)
        return url

    def put_event(self, url: str, href: str, ics: bytes) -> str | None:
        """PUT one object `href` (a name, or a path) into the calendar at `url`; its ETag."""
        target = (
            href if href.startswith("/") or "://" in href else url.rstrip("/") + "/" + quote(href)
        )
        answer = self.request("PUT", target, ics, {"Content-Type": "text/calendar"})
        self._expect(f"PUT {target}", answer, 201, 204)
        return answer[1].get("ETag")

    def delete(self, url: str) -> None:
        answer = self.request("DELETE", url)
        self._expect(f"DELETE {url}", answer, 200, 204)

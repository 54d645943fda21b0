"""Real processes for fault tests and benchmarks: a PostgreSQL server of our own that can be
stopped (never the shared one), and ``callpool serve`` as a subprocess, on loopback only.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from twilio.request_validator import RequestValidator

from tests.waiting import wait_for

T = TypeVar("T")

SECRET_KEY = "serve-test-secret-key-0123456789"
TWILIO_TOKEN = "serve-test-twilio-auth-token"


def unavailable(reason: str) -> None:
    """Skip, or under CI=true fail: a fault test that cannot run there is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def postgres_bindir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (Debian's layout, or pg_config)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    if shutil.which("pg_config"):
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if bindir and (Path(bindir) / "pg_ctl").exists():
            return Path(bindir)
    return None


def _version(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


class PgServer:
    """A throwaway PostgreSQL cluster on ``port`` (trust auth, user postgres) in a temp dir.

    As root, the server runs as the ``postgres`` user (it refuses to run as root).
    """

    def __init__(self, bindir: Path, port: int) -> None:
        self.bindir, self.port = bindir, port
        self.root = Path(tempfile.mkdtemp(prefix="callpool-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as, str(self.bindir / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stderr or result.stdout}")


@contextmanager
def running_postgres(bindir: Path, port: int) -> Iterator[PgServer]:
    """A new cluster, started; stopped (if it still runs) and removed afterwards."""
    server = PgServer(bindir, port)
    server.start()
    try:
        yield server
    finally:
        with suppress(RuntimeError):  # already stopped
            server.stop()
        server.remove()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServeProcess:
    """``callpool serve`` on a free loopback port, its log in a file."""

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        self.env = {
            **os.environ,
            "CALLPOOL_PUBLIC_URL": self.base,
            "CALLPOOL_SECRET_KEY": SECRET_KEY,
            "CALLPOOL_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "CALLPOOL_TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
            "CALLPOOL_ROUTING_CACHE_PATH": str(workdir / "routing.json"),
            "CALLPOOL_CALL_SPOOL_DIR": str(workdir / "spool"),
            **env,
        }
        self.spool_dir = Path(self.env["CALLPOOL_CALL_SPOOL_DIR"])
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx2.Client(base_url=self.base, timeout=30)

    def start(self) -> ServeProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "callpool", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._healthy, f"callpool serve on port {self.port}", timeout=60)
        return self

    def stop(self) -> None:
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def voice(
        self,
        to: str,
        call_id: str,
        caller: str = "+14155550123",
        *,
        http: httpx2.Client | None = None,
    ) -> httpx2.Response:
        params = {
            "CallSid": call_id,
            "AccountSid": "AC00000000000000000000000000000000",
            "To": to,
            "From": caller,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        return self.signed("/webhooks/twilio/voice", params, http=http)

    def status(self, call_id: str, status: str, duration: int) -> httpx2.Response:
        params = {"CallSid": call_id, "CallStatus": status, "CallDuration": str(duration)}
        return self.signed("/webhooks/twilio/status", params)

    def signed(
        self, path: str, params: dict[str, str], *, http: httpx2.Client | None = None
    ) -> httpx2.Response:
        """POST, signed as Twilio signs; on ``http`` (a client of one's own thread) if given."""
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(self.base + path, params)
        headers = {"X-Twilio-Signature": signature}
        return (http or self.http).post(path, data=params, headers=headers)

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"callpool serve exited:\n{self.log()}")
        try:
            return self.http.get("/healthz", timeout=2).status_code == 200
        except httpx2.TransportError:
            return False


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: once a browser test has started Playwright's
    sync API (a session fixture), the main thread counts as running an event loop until the
    session ends, and ``asyncio.run`` refuses to start another there."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()

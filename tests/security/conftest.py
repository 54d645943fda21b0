"""Real `callpool serve` processes on a shared database, and clients that attack them from
chosen loopback addresses (127.0.0.0/8: only this machine is ever a target)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from callpool import clock
from callpool.accounts.service import first_account
from callpool.db import Database
from tests.factories import PASSWORD, Factory
from tests.waiting import wait_for

SECRET = "security-tests-secret-0123456789"
START_SECONDS = 120  # importing the app takes seconds on a busy machine


@dataclass
class Server:
    base: str
    process: subprocess.Popen[str]
    log: Path

    def client(self, address: str = "127.0.0.1", timeout: float = 30) -> httpx2.Client:
        """A client whose connections come from ``address``."""
        transport = httpx2.HTTPTransport(local_address=address)
        return httpx2.Client(base_url=self.base, transport=transport, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(database_url: str, **settings: str) -> dict[str, str]:
    """What an operator sets: the tests' secret key unless ``settings`` say otherwise (an
    empty value unsets). Local files (routing table, spool) go to each process's folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOOL_")}
    env.update({"CALLPOOL_DATABASE_URL": database_url, "CALLPOOL_SECRET_KEY": SECRET, **settings})
    return {k: v for k, v in env.items() if v != ""}


@contextmanager
def serving(
    env: dict[str, str], folder: Path, count: int = 1, command: str = "serve"
) -> Iterator[list[Server]]:
    """``count`` processes of ``callpool <command>``, each on a free port and with its own
    folder (local files, log), started together and stopped when the block ends."""
    started: list[Server] = []
    try:
        for number in range(count):
            started.append(_start(env, folder / f"{command}-{number}", command))
        for server in started:
            _wait_until_up(server)
        yield started
    finally:
        for server in started:
            server.process.terminate()
        for server in started:
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def _start(env: dict[str, str], folder: Path, command: str) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "output.log"
    args = [sys.executable, "-m", "callpool", command, "--port", str(port), "--no-access-log"]
    env = {**env, "CALLPOOL_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    with log.open("w") as output:
        process = subprocess.Popen(
            args, env=env, cwd=folder, stdout=output, stderr=subprocess.STDOUT, text=True
        )
    return Server(f"http://127.0.0.1:{port}", process, log)


def _wait_until_up(server: Server) -> None:
    def up() -> bool:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{server.log.read_text()}")
        try:
            return probe.get(f"{server.base}/healthz").status_code == 200
        except httpx2.TransportError:
            return False

    with httpx2.Client(timeout=2) as probe:
        try:
            wait_for(up, f"the server on {server.base}", START_SECONDS, interval=0.1)
        except TimeoutError as error:
            raise AssertionError(f"{error}:\n{server.log.read_text()}") from None


def add_owner(database: Database, email: str, password: str = PASSWORD) -> None:
    """A dashboard user, owner of the first account (made if none). Takes the database, not
    the ``factory`` fixture: some tests make their own database for the servers."""
    factory = Factory(database, clock.clock)
    with database.reader() as db:
        account = first_account(db)
    factory.user(account or factory.account("Acme Plumbing"), email, password=password)


def log_in(client: httpx2.Client, email: str, password: str, **headers: str) -> int:
    """Open the sign-in page and submit it, as a browser does; the answer's status."""
    page = client.get("/dashboard/login", headers=headers)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    data = {"email": email, "password": password, "csrf": match.group(1)}
    return client.post("/dashboard/login", data=data, headers=headers).status_code

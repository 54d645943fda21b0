"""No insecure default secret: one is generated, kept private and reused; weak ones refused."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from callpool.db import Database
from callpool.settings import Settings, SettingsError, secret_file, with_secret
from tests.security.conftest import PASSWORD, add_owner, log_in, server_env, serving

OLD_DEFAULT = "dev-insecure-secret-key-change-me-in-production"  # shipped until this change
EMAIL = "owner@acme.test"


def _forged(secret: str, payload: dict[str, object]) -> str:
    return URLSafeTimedSerializer(secret, salt="callpool-dashboard-session").dumps(payload)


def test_serve_generates_a_private_secret_keeps_it_across_restarts_and_no_forgery_works(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'callpool.db'}"
    database = Database(url)
    database.migrate()
    add_owner(database, EMAIL)
    database.dispose()
    env = server_env(url, CALLPOOL_SECRET_KEY="")
    kept = data / "callpool.db.secret"

    with serving(env, tmp_path / "first") as (server,):
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert f"saved it in {kept}" in server.log.read_text()
        with server.client() as attacker:
            for payload in ({"c": "x", "u": 1}, {"c": "x", "t": "guess"}):
                attacker.cookies.set("callpool_session", _forged(OLD_DEFAULT, payload))
                assert attacker.get("/dashboard").status_code == 303
        with server.client() as owner:
            assert log_in(owner, EMAIL, PASSWORD) == 303
            cookie = owner.cookies["callpool_session"]
    secret = kept.read_text()

    with serving(env, tmp_path / "second") as (server,), server.client() as owner:
        assert "generated" not in server.log.read_text()
        owner.cookies.set("callpool_session", cookie)
        assert owner.get("/dashboard").status_code == 200  # signed with the same secret
    assert kept.read_text() == secret


@pytest.mark.parametrize(
    ("command", "secret"),
    [
        ("serve", OLD_DEFAULT),
        ("demo", OLD_DEFAULT),
        ("worker", OLD_DEFAULT),
        ("serve", "changeme"),
        ("serve", "short-but-16-char"),
        ("serve", "replace-me-with-a-long-random-string"),
        ("serve", "a" * 40),
    ],
)
def test_a_weak_configured_secret_is_refused_at_start_in_one_line(
    tmp_path: Path, command: str, secret: str
) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'x.db'}", CALLPOOL_SECRET_KEY=secret)
    arguments = ["--once"] if command == "worker" else ["--port", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "callpool", command, *arguments],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("callpool: CALLPOOL_SECRET_KEY")
    assert not (tmp_path / "x.db").exists()  # refused before anything was touched


def _settings(url: str, **values: object) -> Settings:
    return Settings(database_url=url, _env_file=None, **values)  # type: ignore[call-arg]


def test_on_postgresql_the_secret_is_kept_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = _settings("postgresql://db.example/callpool")
    assert secret_file(settings) == Path("callpool-secret.key")
    first = with_secret(settings)
    assert stat.S_IMODE((tmp_path / "callpool-secret.key").stat().st_mode) == 0o600
    assert with_secret(settings).secret_key == first.secret_key
    elsewhere = _settings("postgresql://db.example/callpool", secret_key_file=tmp_path / "s/k")
    assert with_secret(elsewhere).secret_key != first.secret_key
    assert (tmp_path / "s" / "k").exists()


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = _settings(f"sqlite:///{tmp_path / 'callpool.db'}")
    with_secret(settings)
    os.chmod(tmp_path / "callpool.db.secret", 0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        with_secret(settings)

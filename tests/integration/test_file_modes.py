"""The service's files are personal data: readable by its own user only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.bootstrap import bootstrap, keep_data_private
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def sqlite_only(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("the database file is SQLite's")
    return database_url


def test_folders_left_open_by_an_older_release_are_closed_at_start(
    settings: Settings, sqlite_only: str, tmp_path: Path
) -> None:
    spool, mail = tmp_path / "spool", tmp_path / "mail"
    for folder in (spool, mail):
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
    database = Path(sqlite_only.removeprefix("sqlite:///"))
    database.chmod(0o644)
    key = spool.parent / "secret_key"
    key.write_text("a key an older release left readable")
    key.chmod(0o644)
    rt = bootstrap(settings.model_copy(update={"spool_dir": str(spool), "secret_key": None}))
    try:
        assert mode(spool) == 0o700
        assert mode(mail) == 0o700
        assert mode(database) == 0o600
        assert mode(key) == 0o600
    finally:
        rt.close()


def test_a_database_in_a_shared_folder_leaves_the_folder_as_it_was(
    settings: Settings, sqlite_only: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    url = f"sqlite:///{shared / 'ccr.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    (shared / "ccr.db").chmod(0o644)
    keep_data_private(settings.model_copy(update={"database_url": url}))
    assert mode(shared) == 0o755
    assert mode(shared / "ccr.db") == 0o600


def test_what_ccr_creates_is_its_users_alone(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CCR_")},
        "CCR_CONFIG": str(ROOT / "config" / "ccr.toml"),
        "CCR_DATABASE_URL": f"sqlite:///{var / 'ccr.db'}",
        "CCR_DOWNSTREAM": f"maildir:{var / 'mail'}",
        "CCR_LOG_LEVEL": "WARNING",
    }
    # The register export is a file ccr writes itself, named by whoever runs it.
    export = ["register", "export", "--output", str(var / "register.csv")]
    for args in (["db", "upgrade"], ["demo"], export):
        done = subprocess.run([CCR, *args], env=env, cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    created = list(var.rglob("*"))
    assert {var / "ccr.db", var / "register.csv"} <= set(created)
    opened = {str(p.relative_to(var)): oct(mode(p)) for p in created if mode(p) & 0o077}
    assert opened == {}

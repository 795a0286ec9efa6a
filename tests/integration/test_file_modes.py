"""The service's files are personal data: readable by its own user only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.bootstrap import bootstrap, keep_data_private
from gateway.settings import Settings


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

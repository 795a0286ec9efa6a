"""docker-compose.yml, checked by the real Compose implementation rather than by eye.

`docker-compose config` validates the file against Compose's own schema, interpolates the
variables and prints the result; the tests then check what operators are promised.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"

SERVICES = ("redis", "postgres", "migrate", "gateway", "worker", "web")
APP_SERVICES = ("migrate", "gateway", "worker", "web")
LONG_RUNNING_APP_SERVICES = ("gateway", "worker", "web")
HEALTHCHECKED_SERVICES = ("redis", "postgres", "gateway", "worker", "web")


def docker_compose_command() -> str:
    """The docker-compose executable; in CI its absence is a failure, locally a skip.

    CI installs it (.ci/run), so missing there means the check silently stopped running.
    """
    found = shutil.which("docker-compose")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("docker-compose is not installed but CI=true: .ci/run should install it")
    pytest.skip("docker-compose is not installed (apt-get install docker-compose)")


def run_compose_config(
    compose_file: Path, env_file: Path, *, secret_key: str | None = "test-secret-key"
) -> subprocess.CompletedProcess[str]:
    # Only the variables under test reach Compose: a developer's own CCR_* exports or .env
    # file must not change what is checked.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CCR_", "COMPOSE_"))
    }
    if secret_key is not None:
        env["CCR_SECRET_KEY"] = secret_key
    return subprocess.run(
        [
            docker_compose_command(),
            "--env-file",
            str(env_file),
            "-f",
            str(compose_file),
            "config",
        ],
        cwd=compose_file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def compose_result(empty_env_file: Path) -> subprocess.CompletedProcess[str]:
    return run_compose_config(COMPOSE_FILE, empty_env_file)


@pytest.fixture(scope="module")
def compose(compose_result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert compose_result.returncode == 0, compose_result.stderr
    return yaml.safe_load(compose_result.stdout)


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    return compose["services"][name]


def published_ports(svc: dict[str, Any]) -> set[tuple[int, int]]:
    """(published, target) pairs, from the long form Compose prints or the short form."""
    pairs = set()
    for port in svc.get("ports", []):
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            published, _, target = str(port).rpartition(":")
            host_port = published.rpartition(":")[2]
            pairs.add((int(host_port), int(target.split("/")[0])))
    return pairs


def volume_mounts(svc: dict[str, Any]) -> dict[str, str]:
    """Container path -> source, from the short form Compose 1.29 prints or the long form."""
    mounts = {}
    for volume in svc.get("volumes", []):
        if isinstance(volume, dict):
            mounts[volume["target"]] = volume.get("source", "")
        else:
            source, target, *_ = volume.split(":")
            mounts[target] = source
    return mounts


def test_compose_file_is_accepted_by_docker_compose(compose_result):
    assert compose_result.returncode == 0, compose_result.stderr


def test_all_six_services_are_defined(compose):
    assert set(compose["services"]) == set(SERVICES)


@pytest.mark.parametrize("name", HEALTHCHECKED_SERVICES)
def test_service_has_an_enabled_healthcheck(compose, name):
    healthcheck = service(compose, name).get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable", False)
    assert healthcheck.get("test"), f"{name} healthcheck runs nothing"


def test_gateway_healthcheck_expects_an_smtp_greeting(compose):
    command = " ".join(service(compose, "gateway")["healthcheck"]["test"])
    assert "2525" in command
    assert "220" in command


def test_web_healthcheck_requests_healthz(compose):
    command = " ".join(service(compose, "web")["healthcheck"]["test"])
    assert "http://127.0.0.1:8025/healthz" in command


def test_gateway_publishes_smtp_port_2525_and_listens_on_all_interfaces(compose):
    gateway = service(compose, "gateway")
    assert (2525, 2525) in published_ports(gateway)
    assert gateway["environment"]["CCR_SMTP_LISTEN"] == "0.0.0.0:2525"


def test_web_publishes_port_8025_and_listens_on_all_interfaces(compose):
    web = service(compose, "web")
    assert (8025, 8025) in published_ports(web)
    assert web["environment"]["CCR_WEB_LISTEN"] == "0.0.0.0:8025"


def test_only_gateway_and_web_are_reachable_from_outside(compose):
    exposed = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert exposed == {"gateway", "web"}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_uses_postgres_and_redis(compose, name):
    env = service(compose, name)["environment"]
    assert env["CCR_DATABASE_URL"] == "postgresql+psycopg://ccr:change-me@postgres:5432/ccr"
    assert env["CCR_REDIS_URL"] == "redis://redis:6379/0"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_gets_safe_defaults_and_the_secret_key(compose, name):
    env = service(compose, name)["environment"]
    assert env["CCR_ACCEPTED_DOMAINS"] == "council.example.org"
    assert env["CCR_DOWNSTREAM"] == "smtp://mail.council.example.org:25"
    assert env["CCR_SECRET_KEY"] == "test-secret-key"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_share_the_ccr_gateway_image_built_here(compose, name):
    svc = service(compose, name)
    assert svc["image"] == "ccr-gateway"
    assert Path(svc["build"]["context"]).resolve() == REPO_ROOT


def test_postgres_password_reaches_both_postgres_and_the_database_url(tmp_path):
    env_file = tmp_path / "password.env"
    env_file.write_text("CCR_POSTGRES_PASSWORD=s3cret-Pw\n")
    result = run_compose_config(COMPOSE_FILE, env_file)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert service(config, "postgres")["environment"]["POSTGRES_PASSWORD"] == "s3cret-Pw"
    assert (
        service(config, "gateway")["environment"]["CCR_DATABASE_URL"]
        == "postgresql+psycopg://ccr:s3cret-Pw@postgres:5432/ccr"
    )


def test_missing_secret_key_is_refused_rather_than_defaulted(empty_env_file):
    result = run_compose_config(COMPOSE_FILE, empty_env_file, secret_key=None)
    assert result.returncode != 0
    assert "CCR_SECRET_KEY" in result.stderr


def test_postgres_data_is_on_a_named_volume(compose):
    mounts = volume_mounts(service(compose, "postgres"))
    assert mounts.get("/var/lib/postgresql/data") == "pgdata"
    assert "pgdata" in compose["volumes"]


def test_gateway_spool_is_on_a_named_volume(compose):
    assert volume_mounts(service(compose, "gateway")).get("/srv/ccr/var") == "spool"
    assert "spool" in compose["volumes"]


def test_the_worker_reads_the_spool_the_gateway_writes(compose):
    # Delivery jobs run on the worker and read each message from the spool.
    assert volume_mounts(service(compose, "worker")).get("/srv/ccr/var") == "spool"


def test_worker_watches_the_call_log_drop_volume(compose):
    worker = service(compose, "worker")
    assert worker["environment"]["CCR_CALLS_DROP"] == "/srv/ccr/calls-drop"
    assert volume_mounts(worker).get("/srv/ccr/calls-drop") == "calls"
    assert "calls" in compose["volumes"]


@pytest.mark.parametrize("name", LONG_RUNNING_APP_SERVICES)
def test_app_service_starts_only_after_migrations_succeed(compose, name):
    depends_on = service(compose, name)["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_migrations_wait_for_a_healthy_postgres_and_run_once(compose):
    migrate = service(compose, "migrate")
    assert migrate["command"] == ["ccr", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart", "no") == "no"


@pytest.mark.parametrize(
    ("name", "command"),
    [("gateway", ["ccr", "gateway"]), ("worker", ["ccr", "worker"]), ("web", ["ccr", "web"])],
)
def test_long_running_service_runs_its_role_and_restarts(compose, name, command):
    svc = service(compose, name)
    assert svc["command"] == command
    assert svc["restart"] == "unless-stopped"


def test_broken_compose_file_is_rejected(empty_env_file, tmp_path):
    # Proves the checks above rest on real validation: one misspelt key must fail.
    text = COMPOSE_FILE.read_text()
    assert "    healthcheck:\n" in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("    healthcheck:\n", "    helthcheck:\n", 1))
    result = run_compose_config(broken, empty_env_file)
    assert result.returncode != 0
    assert "helthcheck" in result.stderr

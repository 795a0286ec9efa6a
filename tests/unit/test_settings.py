"""Settings: file and environment, with one clear line for any wrong value."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_defaults_need_no_configuration(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    settings = load_settings({"CCR_CONFIG": str(empty)})
    assert settings.database_url == "sqlite:///var/ccr.db"
    assert settings.redis_url is None
    assert settings.downstream == "maildir:var/mail"


def test_example_file_states_the_defaults() -> None:
    example = load_settings({}, ROOT / "config" / "ccr.toml")
    assert example == load_settings({"CCR_CONFIG": "/dev/null"})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "ccr.toml"
    config.write_text('smtp_listen = "127.0.0.1:2600"\nappeal_days = 21\n')
    settings = load_settings({"CCR_SMTP_LISTEN": "0.0.0.0:25"}, config)
    assert settings.smtp_listen == "0.0.0.0:25"
    assert settings.appeal_days == 21


def test_port_0_lets_the_system_choose_and_a_port_past_65535_is_refused() -> None:
    settings = load_settings({"CCR_SMTP_LISTEN": "127.0.0.1:0", "CCR_WEB_LISTEN": "127.0.0.1:0"})
    assert (settings.smtp_listen, settings.web_listen) == ("127.0.0.1:0", "127.0.0.1:0")
    with pytest.raises(SettingsError, match="expected host:port"):
        load_settings({"CCR_WEB_LISTEN": "127.0.0.1:65536"})


def test_lists_come_comma_separated_from_the_environment() -> None:
    settings = load_settings({"CCR_ACCEPTED_DOMAINS": "council.example.org, example.gov.uk"})
    assert settings.accepted_domains == ["council.example.org", "example.gov.uk"]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"CCR_SMTP_LISTEN": "localhost"},
            "setting smtp_listen (CCR_SMTP_LISTEN): expected host:port",
        ),
        ({"CCR_DOWNSTREAM": "ftp://x"}, "setting downstream (CCR_DOWNSTREAM): expected smtp://"),
        ({"CCR_DATABASE_URL": "mysql://x"}, "setting database_url (CCR_DATABASE_URL)"),
        (
            {"CCR_REDIS_URL": "localhost:6379"},
            "setting redis_url (CCR_REDIS_URL): expected a redis://",
        ),
        ({"CCR_RETENTION_MONTHS": "0"}, "setting retention_months (CCR_RETENTION_MONTHS)"),
        ({"CCR_TIMEZONE": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"CCR_IG_MAILBOX": "not-an-address"}, "setting ig_mailbox (CCR_IG_MAILBOX)"),
        ({"CCR_SMTP_LSITEN": "127.0.0.1:25"}, "unknown setting CCR_SMTP_LSITEN"),
        (
            {"CCR_DOWNSTREAM_CA_FILE": "/nonexistent/ca.pem"},
            "setting downstream_ca_file (CCR_DOWNSTREAM_CA_FILE): no such file",
        ),
        (
            {"CCR_CONFIG": "/nonexistent/ccr.toml"},
            "configuration file /nonexistent/ccr.toml does not exist",
        ),
        (
            {"CCR_WEB_TRUSTED_PROXIES": "-1"},
            "setting web_trusted_proxies (CCR_WEB_TRUSTED_PROXIES): Input should be greater",
        ),
        (
            {"CCR_WEB_TRUSTED_PROXIES": "yes"},
            "setting web_trusted_proxies (CCR_WEB_TRUSTED_PROXIES): Input should be a valid int",
        ),
    ],
)
def test_a_wrong_value_gives_one_line_naming_the_setting(environ: dict, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_key_in_the_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "ccr.toml"
    config.write_text("retention_month = 12\n")
    with pytest.raises(SettingsError, match="unknown setting 'retention_month'"):
        load_settings({}, config)


def test_broken_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    config = tmp_path / "ccr.toml"
    config.write_text("appeal_days = \n")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        load_settings({}, config)


def test_trusted_proxies_default_to_none_and_count_hops() -> None:
    assert load_settings({"CCR_CONFIG": "/dev/null"}).web_trusted_proxies == 0
    assert load_settings({"CCR_WEB_TRUSTED_PROXIES": "2"}).web_trusted_proxies == 2

"""The `volume` settings: thresholds from config/ccr.toml or CCR_VOLUME, one line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import SettingsError, load_settings
from routing.volume import DEFAULT_THRESHOLDS


def test_defaults_hold_without_configuration() -> None:
    settings = load_settings({"CCR_CONFIG": "/dev/null"})
    assert settings.volume.rules == DEFAULT_THRESHOLDS
    assert settings.volume.rescan_days == 90
    assert len(settings.volume.rule_set.rules) == len(DEFAULT_THRESHOLDS)


def test_dotted_keys_in_the_file_override_some_rules_and_add_service_thresholds(
    tmp_path: Path,
) -> None:
    config = tmp_path / "ccr.toml"
    config.write_text(
        "volume.rules.emails_1d = 20\n"
        "volume.rules.same_content_14d = false\n"
        'volume.services."Housing repairs".emails_1d = 40\n'
        "appeal_days = 21\n"  # a top-level key after the dotted ones stays top-level
    )
    settings = load_settings({}, config)
    assert settings.appeal_days == 21
    keys = {rule.key: rule for rule in settings.volume.rule_set.rules}
    assert keys["emails_1d"].threshold == 20
    assert keys["emails_1d"].excluded_services == frozenset({"Housing repairs"})
    assert keys["emails_1d@Housing repairs"].title == (
        "More than 40 emails to Housing repairs in any 24 hours"
    )
    assert "same_content_14d" not in keys
    assert keys["calls_1d"].threshold == DEFAULT_THRESHOLDS["calls_1d"]


def test_the_environment_takes_the_whole_table_as_json() -> None:
    settings = load_settings(
        {"CCR_CONFIG": "/dev/null", "CCR_VOLUME": '{"rules": {"calls_1d": 3}, "rescan_days": 7}'}
    )
    assert settings.volume.rules["calls_1d"] == 3
    assert settings.volume.rescan_days == 7


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("volume.rules.emails_1d = 0\n", "volume.rules.emails_1d: expected a whole number"),
        ("volume.rules.emailz_1d = 3\n", "volume.rules.emailz_1d: not a rule"),
        ("volume.rules.calls_6w = 3\n", "volume.rules.calls_6w: not a rule"),
        ('volume.services.Housing.calls_1d = "x"\n', "volume.services.Housing.calls_1d:"),
        ("volume.rescan_days = 0\n", "volume.rescan_days: expected a whole number of days"),
        ("volume.rescan = 3\n", "unknown key volume.rescan"),
        ("volume = 3\n", "expected a table of volume settings"),
    ],
)
def test_a_wrong_threshold_is_one_line_naming_its_key(
    tmp_path: Path, toml: str, message: str
) -> None:
    config = tmp_path / "ccr.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError) as caught:
        load_settings({}, config)
    text = str(caught.value)
    assert text.startswith("setting volume (CCR_VOLUME): ")
    assert message in text and "\n" not in text

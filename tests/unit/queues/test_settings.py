"""Settings: defaults, TOML file, environment, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from queues.settings import Settings, SettingsError, load_settings


def test_defaults_give_a_sqlite_database_in_var(tmp_path: Path) -> None:
    s = load_settings(environ={}, var_dir=tmp_path)
    assert s.database_url == f"sqlite:///{(tmp_path / 'switchboard.db').resolve()}"
    assert s.addresses["help@localhost"] == "general-help"


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "sb.toml"
    cfg.write_text(
        '[switchboard]\norganisation = "Org"\nack_per_sender_per_day = 2\n'
        '[switchboard.addresses]\n"Help@Example.org" = "general-help"\n'
    )
    s = load_settings(
        cfg,
        environ={
            "SWITCHBOARD_ACK_PER_SENDER_PER_DAY": "7",
            "SWITCHBOARD_BLOCKED_SENDER_TICKETS": "yes",
        },
    )
    assert s.organisation == "Org"
    assert s.ack_per_sender_per_day == 7
    assert s.blocked_sender_tickets is True
    assert dict(s.addresses) == {"help@example.org": "general-help"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[switchboard]\nack_per_sender_pre_day = 2\n", "unknown setting"),
        ("[switchboard]\nack_per_sender_per_day = 'many'\n", "ack_per_sender_per_day"),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(cfg, environ={})


def test_missing_file_and_negative_caps() -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings("/nonexistent/sb.toml", environ={})
    with pytest.raises(SettingsError):
        Settings(ack_global_per_day=-1)


def test_runner_counts_and_leases_are_checked() -> None:
    assert Settings(ingest_runners=3).ingest_runners == 3
    for bad in (
        {"ingest_runners": -1},
        {"ingest_max_crashes": -1},
        {"ingest_lease_seconds": 0},
        {"outbox_lease_seconds": -5},
    ):
        with pytest.raises(SettingsError):
            Settings(**bad)  # type: ignore[arg-type]

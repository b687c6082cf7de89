"""The deployment examples stay true: the config loads, the units run real commands."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from queues.settings import load_settings
from switchboard.cli import main

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
README = DEPLOY.parent / "README.md"


def test_production_example_config_loads() -> None:
    settings = load_settings(DEPLOY / "switchboard.toml", environ={})
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert set(settings.addresses.values()) == {"general-help", "specialist-safety"}
    assert settings.relay_host == "127.0.0.1"


def test_readme_config_example_loads(tmp_path: Path) -> None:
    block = re.search(r"```toml\n(.*?)```", README.read_text(), re.DOTALL)
    assert block is not None
    path = tmp_path / "example.toml"
    path.write_text(block.group(1))
    tomllib.loads(block.group(1))
    settings = load_settings(path, environ={})
    assert settings.imap[0].after == "move:Imported"


@pytest.mark.parametrize("unit", sorted((DEPLOY / "systemd").glob("*.service")), ids=str)
def test_systemd_units_start_existing_commands(unit: Path) -> None:
    exec_start = next(
        line.partition("=")[2]
        for line in unit.read_text().splitlines()
        if line.startswith("ExecStart=")
    )
    argv = shlex.split(exec_start)
    assert argv[0].endswith("/switchboard")
    words = [a for a in argv[1:] if not a.startswith("-") and not a.endswith(".toml")]
    command = main.commands.get(words[0])  # type: ignore[attr-defined]
    assert command is not None, f"{unit.name}: no command {words[0]!r}"
    known = {opt for p in command.params for opt in getattr(p, "opts", [])}
    flags = [a for a in argv[argv.index(words[0]) + 1 :] if a.startswith("-")]
    assert set(flags) <= known, f"{unit.name}: unknown options {set(flags) - known}"


def test_postfix_transport_points_at_the_gateway_port() -> None:
    settings = load_settings(DEPLOY / "switchboard.toml", environ={})
    transport = (DEPLOY / "postfix" / "transport").read_text()
    assert f"lmtp:inet:{settings.gateway_host}:{settings.gateway_port}" in transport
    recipients = (DEPLOY / "postfix" / "switchboard_recipients").read_text()
    for address in settings.addresses:
        assert address in recipients


def test_reverse_proxy_points_at_the_web_unit() -> None:
    unit = (DEPLOY / "systemd" / "switchboard-web.service").read_text()
    exec_start = shlex.split(
        next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    )
    host = exec_start[exec_start.index("--host") + 1]
    port = exec_start[exec_start.index("--port") + 1]
    assert exec_start[exec_start.index("--trusted-proxy") + 1] == host  # the proxy is local
    nginx = (DEPLOY / "nginx" / "switchboard.conf").read_text()
    assert f"proxy_pass http://{host}:{port};" in nginx
    # Appending ($proxy_add_x_forwarded_for) would let a client choose its own address.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx

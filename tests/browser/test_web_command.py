"""`switchboard web` as an operator runs it: a real process, real HTTP, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from switchboard.cli import main


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(port: int, process: subprocess.Popen[bytes], deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"switchboard web exited: {process.communicate()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("switchboard web did not start listening")


def test_web_serves_the_app_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
        "SWITCHBOARD_VAR_DIR": str(tmp_path / "var"),
    }
    init = CliRunner().invoke(main, ["init"], env=env)
    assert init.exit_code == 0, init.output
    port = free_port()
    command = [sys.executable, "-m", "switchboard", "web", "--port", str(port), "--threads", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(port, process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
            assert response.status == 200
            assert response.headers["Server"] == "switchboard"
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
            assert "__Host-switchboard=" in response.headers["Set-Cookie"]
            assert b"Sign in" in response.read()
        # The signing key was created once, private to the installation.
        assert (tmp_path / "var" / "web_secret_key").stat().st_mode & 0o077 == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr


def test_web_believes_forwarded_addresses_only_from_the_trusted_proxy(tmp_path: Path) -> None:
    """Throttling and the audit log must see the client, not the proxy in front of us."""
    import http.cookiejar
    import re
    import urllib.parse

    from sqlalchemy import create_engine, select

    from queues.models import LoginThrottle

    url = f"sqlite:///{tmp_path / 'web.db'}"
    env = {**os.environ, "SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_VAR_DIR": str(tmp_path)}
    assert CliRunner().invoke(main, ["init"], env=env).exit_code == 0
    port = free_port()
    command = [
        sys.executable, "-m", "switchboard", "web", "--port", str(port),
        "--trusted-proxy", "127.0.0.1", "--insecure-cookie",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(port, process)
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        base = f"http://127.0.0.1:{port}"
        page = opener.open(f"{base}/login", timeout=5).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        form = {"csrf_token": token.group(1), "email": "x@example.org", "password": "wrong"}
        request = urllib.request.Request(
            f"{base}/login",
            data=urllib.parse.urlencode(form).encode(),
            headers={"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"},
        )
        with opener.open(request, timeout=10) as response:
            assert response.status == 200
            # Forwarded as HTTPS by the proxy: the app says so to browsers.
            assert "Strict-Transport-Security" in response.headers
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    engine = create_engine(url)
    with engine.connect() as conn:
        keys = set(conn.scalars(select(LoginThrottle.key)))
    engine.dispose()
    assert "client:203.0.113.5" in keys

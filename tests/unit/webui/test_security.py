"""Headers on every response, cookie flags, generic error pages, safe redirects, config."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from queues.models import Role
from webui.config import load_secret_key
from webui.security import CONTENT_SECURITY_POLICY, safe_next

from .conftest import Auth, csrf_from, make_app, new_client

EXPECTED = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def check_headers(response: TestResponse, static: bool = False) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (name, response.request.path)
    if not static:
        assert response.headers["Cache-Control"] == "no-store", response.request.path
    assert "Strict-Transport-Security" in response.headers  # the test client speaks HTTPS


def test_the_policy_is_strict() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert all("unsafe" not in v and "*" not in v for v in directives.values())
    assert "script-src" not in directives  # default 'none': no script at all


def test_headers_on_every_kind_of_response(app: Flask, auth: Auth, client: FlaskClient) -> None:
    anonymous = [
        client.get("/login"),  # page
        client.get("/"),  # redirect to login
        client.get("/no/such/page"),  # 404
        client.post("/login", data={}),  # CSRF refusal
        client.get("/logout"),  # 405
    ]
    for response in anonymous:
        check_headers(response)
    check_headers(client.get("/static/switchboard.css"), static=True)
    auth.as_role(Role.STAFF)
    for path in ("/", "/password", "/staff/users", "/staff/users/new"):
        response = client.get(path)
        assert response.status_code == 200, path
        check_headers(response)


def test_pages_use_no_inline_script_or_style(auth: Auth, client: FlaskClient) -> None:
    pages = [client.get("/login")]
    auth.as_role(Role.STAFF)
    pages += [client.get(p) for p in ("/", "/password", "/staff/users", "/staff/users/new")]
    for response in pages:
        html = response.get_data(as_text=True).lower()
        assert "<script" not in html and "<style" not in html and " style=" not in html
        assert not re.search(r"\son[a-z]+\s*=", html)  # no event handler attributes
        assert "http://" not in html and "https://" not in html  # nothing from other sites


def test_session_cookie_flags(auth: Auth, client: FlaskClient) -> None:
    response = client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-switchboard=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie and "Expires" not in cookie


def test_insecure_cookie_for_local_http_only_when_asked(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    app = make_app(factory, tmp_path, SESSION_COOKIE_SECURE=False, PREFERRED_URL_SCHEME="http")
    cookie = new_client(app).get("/login").headers["Set-Cookie"]
    assert cookie.startswith("switchboard=") and "Secure" not in cookie
    assert "HttpOnly" in cookie


def test_not_found_reveals_nothing(auth: Auth, client: FlaskClient) -> None:
    anonymous = client.get("/no/such/page")
    assert anonymous.status_code == 404
    auth.as_role(Role.VOLUNTEER)
    signed_in = client.get("/no/such/page")
    assert signed_in.status_code == 404
    # The same page whoever asks: no name, no role, no navigation.
    assert anonymous.data == signed_in.data
    assert b"volunteer@example.org" not in signed_in.data


def test_server_error_page_is_generic(
    factory: sessionmaker[Session], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(factory, tmp_path, PROPAGATE_EXCEPTIONS=False)

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("secret internal detail: password=hunter2")

    from webui.security import public

    public(boom)
    response = new_client(app).get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page
    assert "hunter2" not in page and "RuntimeError" not in page and "Traceback" not in page
    check_headers(response)


def test_forbidden_and_bad_request_pages_are_generic(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    from flask import abort

    from webui.security import public

    app = make_app(factory, tmp_path)

    @app.route("/forbidden")
    @public
    def forbidden() -> str:
        abort(403, "agent 7 may not see ticket 123 in police-liaison")

    response = new_client(app).get("/forbidden")
    assert response.status_code == 403
    assert b"police-liaison" not in response.data and b"Not allowed" in response.data


def test_too_large_requests_are_refused(app: Flask, client: FlaskClient) -> None:
    token = csrf_from(client.get("/login"))
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/login", data={"csrf_token": token, "email": big, "password": "x"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/staff/users", "/staff/users"),
        ("/?a=1", "/?a=1"),
        ("//evil.example/", None),
        ("/\\evil.example/", None),
        ("https://evil.example/", None),
        ("javascript:alert(1)", None),
        ("/ok\r\nSet-Cookie: x", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_next(target: str | None, expected: str | None) -> None:
    assert safe_next(target) == expected


def test_secret_key_file_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "web_secret_key"
    first = load_secret_key(path)
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret_key(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["web_secret_key"]  # no temp files left


def test_a_short_secret_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("short\n")
    with pytest.raises(RuntimeError, match="too short"):
        load_secret_key(path)


def test_app_without_secret_key_uses_the_key_file(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    app = make_app(factory, tmp_path, SECRET_KEY=None)
    assert app.config["SECRET_KEY"] == (tmp_path / "var" / "web_secret_key").read_text().strip()

"""Take the README's screenshots of the web UI: a fresh installation, real commands, Chromium.

Its one job: make docs/screenshots/*.png reproducible. It runs `switchboard init`, adds a
staff account, imports a handful of invented reports with `switchboard ingest` (one of
them serious enough for the specialist-safety queue), starts `switchboard web` on a free
loopback port and lets Playwright drive Debian's Chromium through the main pages, twice:
on a laptop (1280 px wide: NAME.png) and on a phone (390 px: phone-NAME.png).

    .venv/bin/python docs/screenshots.py [--out docs/screenshots]

Needs the test extra (playwright) and /usr/bin/chromium (Debian's chromium package).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))
STAFF, PASSWORD = "sam.staff@help.example.org", "a screenshot passphrase"
REPORTS = [
    (
        "Maya Lind",
        "maya@example.net",
        "help@localhost",
        "Someone keeps creating new accounts",
        "Every time I block him he makes a new account and messages me again.\n"
        "It has been going on for three weeks. What can I do?",
    ),
    (
        "Jonas Weber",
        "jonas@example.de",
        "help@localhost",
        "Belästigung in den Kommentaren",
        "Hallo, unter jedem meiner Beiträge schreibt dieselbe Person beleidigende Kommentare.\n"
        "Kann man das melden, ohne dass sie erfährt, wer es war?",
    ),
    (
        "Camille Roux",
        "camille@example.fr",
        "help@localhost",
        "Faux profil à mon nom",
        "Quelqu'un a créé un faux profil avec mes photos et écrit à mes amis.",
    ),
    (
        "Priya N.",
        "priya@example.org",
        "help@localhost",
        "He posted my home address",
        "A man I blocked posted my home address in a group and said he will come to my house.\n"
        "I am scared to go outside.",
    ),
    (
        "Lucía Gómez",
        "lucia@example.es",
        "help@localhost",
        "Mensajes de un desconocido",
        "Recibo mensajes de alguien que no conozco, todos los días.",
    ),
    (
        "Tom Baker",
        "tom@example.com",
        "help@localhost",
        "How do I report a group?",
        "There is a group that shares screenshots of people's profiles to mock them.",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_reports(folder: Path) -> None:
    folder.mkdir(parents=True)
    start = datetime.now(UTC) - timedelta(hours=len(REPORTS) * 3)
    for i, (name, address, to, subject, body) in enumerate(REPORTS):
        mail = EmailMessage()
        mail["From"] = f"{name} <{address}>"
        mail["To"] = to
        mail["Subject"] = subject
        mail["Date"] = format_datetime(start + timedelta(hours=3 * i))
        mail["Message-ID"] = make_msgid(domain=address.split("@")[1])
        mail.set_content(body)
        (folder / f"{i:02d}.eml").write_bytes(bytes(mail))


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [SWITCHBOARD, *args], env=env, input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout


def wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def shoot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(f"  {out / name}.png")


# The width of each set and the prefix of its file names.
VIEWPORTS = {"": {"width": 1280, "height": 800}, "phone-": {"width": 390, "height": 844}}


def pages(base: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        for prefix, viewport in VIEWPORTS.items():
            context = browser.new_context(viewport=viewport)
            walk(context.new_page(), base, out, prefix)
            context.close()
        browser.close()


def walk(page: Page, base: str, out: Path, prefix: str) -> None:
    page.goto(f"{base}/report/?lang=en")
    shoot(page, out, f"{prefix}report")
    page.goto(f"{base}/login")
    shoot(page, out, f"{prefix}login")
    page.fill("input[name=email]", STAFF)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")
    shoot(page, out, f"{prefix}overview")
    page.goto(f"{base}/queues/general-help")
    shoot(page, out, f"{prefix}queue")
    page.goto(f"{base}/queues/specialist-safety")
    # A report that is serious by any reading (the model also flags some that are not).
    page.click("table th.subject a:has-text('He posted my home address')")
    shoot(page, out, f"{prefix}ticket")
    page.click("a[href$='/reply']")
    shoot(page, out, f"{prefix}reply")
    page.goto(f"{base}/search?q=profil")
    shoot(page, out, f"{prefix}search")
    page.goto(f"{base}/dashboard")
    shoot(page, out, f"{prefix}dashboard")
    page.goto(f"{base}/rota/")
    shoot(page, out, f"{prefix}rota")
    page.goto(f"{base}/staff")
    shoot(page, out, f"{prefix}staff")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
            "SWITCHBOARD_VAR_DIR": str(Path(tmp) / "var"),
            "SWITCHBOARD_ORGANISATION": "Example help team",
            # The pages, not the enrolment every staff member meets first (two-factor).
            "SWITCHBOARD_TWOFACTOR_REQUIRED_ROLES": "",
        }
        run(env, "init", "--admin-email", "admin@help.example.org")
        run(env, "user", "add", STAFF, "--role", "staff", "--name", "Sam",
            "--password-stdin", "--own-password", stdin=PASSWORD + "\n")  # fmt: skip
        write_reports(Path(tmp) / "mail")
        run(env, "ingest", "--no-progress", "--jobs", "0", str(Path(tmp) / "mail"))
        web = subprocess.Popen(
            [SWITCHBOARD, "web", "--port", str(port), "--insecure-cookie"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/login")
            pages(base, args.out)
        finally:
            web.terminate()
            web.wait(timeout=10)


if __name__ == "__main__":
    main()

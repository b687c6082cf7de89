"""Benchmark `switchboard ingest` against the standard library's parser: prints figures only.

Its one job: generate a seeded mail mix (bench/mailmix.py), then measure

1. the ceiling: `email.message_from_bytes(raw, policy=email.policy.default)` on every file,
   every non-multipart part decoded with `get_content()`, the From/To/Subject/Date/Message-ID
   headers read; nothing stored, one process;
2. for reference, `mailgate.parser.parse_message` alone on every file (ingest's parse step
   without the database), so the table shows how ingest time splits;
3. `switchboard ingest --no-progress FOLDER` as a subprocess on each backend, against a fresh
   database each time (SQLite in a fresh SWITCHBOARD_VAR_DIR; PostgreSQL in a database
   created for the run and dropped after it);

and print messages per second, peak memory and the ratio of each to the ceiling;

4. the SMTP gateway's sender checks (mailgate.senderauth, issue 8) on every message of the
   same mix, which `switchboard ingest` does not run (files have no envelope: the gateway
   checks before it stores, or reads the milters' results behind Postfix). Each message is
   DKIM-signed by its From domain, whose SPF, DKIM and DMARC records a local DNS server
   (bench/smtp.py's) answers, and checked as if its From address had sent it from
   127.0.0.1, after a warm-up (DNS answers cached): once with SPF passing for that domain
   (the usual case: DKIM is then not needed) and once with SPF neutral (DKIM decides, as for
   forwarded mail). Printed: CPU per message, and what that adds to each ingest row's CPU
   per message, as the share of its throughput the checks would take: check / (ingest +
   check). `--no-sender-checks` leaves this out.

Peak memory is the peak resident set size (ru_maxrss, i.e. the kernel's VmHWM) of the
measured process alone: each measured command runs under a fresh `python -c` wrapper whose
only child it is, and the wrapper reports getrusage(RUSAGE_CHILDREN) after waiting for it.
The ceiling and the parser-only step run the same way (this script re-invoked with
--ceiling-only or --parser-only), so the figures compare like with like.

    .venv/bin/python bench/ingest.py [--messages N] [--seed S] [--backends sqlite,postgresql]
                                     [--no-sender-checks]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mailmix  # bench/ is not a package: this file runs as a script, next to mailmix.py

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HEADERS = ("From", "To", "Subject", "Date", "Message-ID")
MB = 1024 * 1024

# Runs one command as its only child and prints, as JSON, its wall time, exit status,
# output, CPU time and peak RSS. RUSAGE_CHILDREN is the maximum over all children the
# wrapper waited for, and there is exactly one, so ru_maxrss is that command's own peak.
MEASURE = r"""
import json, resource, subprocess, sys, time
timeout = float(sys.argv[1]) or None
start = time.perf_counter()
try:
    done = subprocess.run(sys.argv[2:], capture_output=True, timeout=timeout)
    rc, out, err = done.returncode, done.stdout, done.stderr
except subprocess.TimeoutExpired as exc:
    rc, out, err = None, exc.stdout or b"", (exc.stderr or b"") + b"\n[timed out]"
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"rc": rc, "seconds": seconds, "maxrss_kb": usage.ru_maxrss,
           "user": usage.ru_utime, "sys": usage.ru_stime,
           "stdout": out.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace")},
          sys.stdout)
"""


@dataclass
class Run:
    """One measured command."""

    rc: int | None
    seconds: float
    maxrss_kb: int
    cpu_seconds: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass
class Row:
    """One line of the results table."""

    name: str
    messages: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float  # user + system CPU of the measured process (whole process)
    note: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def measure(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float) -> Run:
    """Run `cmd` under the MEASURE wrapper and return what it reported."""
    wrapper = [sys.executable, "-c", MEASURE, str(timeout), *cmd]
    done = subprocess.run(wrapper, env=env, cwd=cwd, capture_output=True, check=True)
    data = json.loads(done.stdout)
    return Run(
        rc=data["rc"],
        seconds=data["seconds"],
        maxrss_kb=data["maxrss_kb"],
        cpu_seconds=data["user"] + data["sys"],
        stdout=data["stdout"],
        stderr=data["stderr"],
    )


# --- the ceiling -------------------------------------------------------------------------


def ceiling(folder: Path) -> dict[str, Any]:
    """Parse every file with the stdlib's modern parser, decode every part, store nothing."""
    files = sorted(folder.glob("*.eml"))
    parts = errors = decoded_bytes = 0
    start = time.perf_counter()
    for path in files:
        raw = path.read_bytes()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        for name in HEADERS:
            value = msg[name]
            if value is not None:
                str(value)
        for part in msg.walk():
            if part.is_multipart():  # multipart/* and message/rfc822 containers
                continue
            parts += 1
            try:
                content = part.get_content()
            except Exception:  # a figure to report, not a reason to stop
                errors += 1
                continue
            decoded_bytes += len(content) if isinstance(content, str | bytes) else 0
    seconds = time.perf_counter() - start
    return {
        "messages": len(files),
        "parts": parts,
        "errors": errors,
        "decoded_bytes": decoded_bytes,
        "seconds": seconds,
    }


def parser_only(folder: Path) -> dict[str, Any]:
    """`mailgate.parser.parse_message` on every file, nothing stored: the parse share of ingest."""
    from mailgate.parser import parse_message

    files = sorted(folder.glob("*.eml"))
    defects = attachments = 0
    start = time.perf_counter()
    for path in files:
        mail = parse_message(path.read_bytes())
        defects += len(mail.defects)
        attachments += len(mail.attachments)
    seconds = time.perf_counter() - start
    return {
        "messages": len(files),
        "defects": defects,
        "attachments": attachments,
        "seconds": seconds,
    }


def sender_checks(folder: Path) -> dict[str, Any]:
    """The gateway's sender checks on every file, DKIM-signed first (not timed)."""
    import collections

    import smtp  # bench/smtp.py: the signer and the DNS server of the SMTP benchmark

    from mailgate.senderauth.check import check_message
    from queues.settings import Settings

    signed, records = smtp.sign(smtp.folder_mail(folder), spf="neutral")
    figures: dict[str, Any] = {"messages": len(signed), "signed_domains": len(records) // 3}
    for spf in ("pass", "neutral"):
        published = [
            (name, kind, smtp.SPF_RECORDS[spf] if value.startswith("v=spf1") else value)
            for name, kind, value in records
        ]
        with smtp.dns_server(published) as (server, _queries):
            settings = Settings(dns_servers=(server,))

            def check(mail: Any, settings: Settings = settings) -> str:
                verdict = check_message(
                    mail.raw, client_ip="127.0.0.1", helo="client.example",
                    mail_from=mail.mail_from, settings=settings,
                )  # fmt: skip
                return str(verdict.verdict)

            for mail in signed[:50]:  # warm-up: DNS answers cached, code loaded
                check(mail)
            started, cpu = time.perf_counter(), time.process_time()
            verdicts = collections.Counter(check(mail) for mail in signed)
            figures[spf] = {
                "seconds": time.perf_counter() - started,
                "cpu_seconds": time.process_time() - cpu,
                "verdicts": dict(verdicts),
            }
    return figures


def print_sender_checks(data: dict[str, Any], rows: list[Row]) -> None:
    """The checks' CPU per message, and the share of each ingest row's throughput."""
    count = data["messages"]
    print(
        f"\nSender checks on the same {count} messages ({data['signed_domains']} From domains "
        "signing; what the SMTP gateway runs before it stores; `switchboard ingest` does not):"
    )
    ingest_rows = [row for row in rows if row.name.startswith("switchboard ingest")]
    for spf, label in (("pass", "SPF passes for the From domain"), ("neutral", "DKIM decides")):
        figures = data[spf]
        per_message = figures["cpu_seconds"] / count * 1000
        print(
            f"  {label}: {per_message:.2f} ms CPU per message ({figures['seconds']:.1f} s wall "
            f"for all); verdicts {figures['verdicts']}"
        )
        for row in ingest_rows:
            ingest_ms = row.cpu_seconds / row.messages * 1000
            share = per_message / (ingest_ms + per_message)
            print(
                f"    {row.name} ({ingest_ms:.2f} ms CPU per message): the checks would take "
                f"{share:.1%} of its throughput"
            )


def run_stage(flag: str, folder: Path, timeout: float) -> tuple[Run, dict[str, Any] | None]:
    """Re-run this script with `flag` (--ceiling-only, --parser-only or --checks-only) under
    MEASURE."""
    run = measure(
        [sys.executable, str(Path(__file__).resolve()), flag, str(folder)],
        env=dict(os.environ),
        cwd=REPO,
        timeout=timeout,
    )
    return run, json.loads(run.stdout) if run.ok else None


# --- switchboard ingest ------------------------------------------------------------------


def switchboard_command() -> Path:
    here = Path(sys.executable).with_name("switchboard")
    return here if here.exists() else REPO / ".venv" / "bin" / "switchboard"


def child_env(**settings: str) -> dict[str, str]:
    """The environment for switchboard: ours without any SWITCHBOARD_*, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(settings)
    return env


def summary_line(run: Run) -> str:
    lines = [line for line in run.stdout.splitlines() if " messages: " in line]
    return lines[-1] if lines else "(no summary line)"


def ingest_backend(
    name: str,
    folder: Path,
    count: int,
    env: dict[str, str],
    workdir: Path,
    timeout: float,
    jobs: str,
) -> tuple[Row | None, Run | None]:
    """`switchboard init` (not timed), then `switchboard ingest --no-progress FOLDER` (timed)."""
    jobs_args = [] if jobs == "default" else ["--jobs", jobs]
    name = f"{name}, --jobs {jobs}"
    exe = str(switchboard_command())
    init = subprocess.run([exe, "init"], env=env, cwd=workdir, capture_output=True, text=True)
    if init.returncode != 0:
        print(f"  {name}: `switchboard init` failed (exit {init.returncode}):")
        print("    " + (init.stderr or init.stdout).strip().replace("\n", "\n    "))
        return None, None
    run = measure(
        [exe, "ingest", "--no-progress", *jobs_args, str(folder)],
        env=env,
        cwd=workdir,
        timeout=timeout,
    )
    print(
        f"  {name}: exit {run.rc}, {run.seconds:.1f} s wall, {run.cpu_seconds:.1f} s CPU "
        f"(ingest process only), peak RSS {run.maxrss_kb / 1024:.0f} MB"
    )
    print(f"  {name}: summary: {summary_line(run)}")
    other = [line for line in run.stdout.splitlines() if " messages: " not in line]
    for line in other[:5]:
        print(f"  {name}: stdout: {line}")
    err_lines = run.stderr.strip().splitlines()
    if err_lines:
        print(f"  {name}: stderr has {len(err_lines)} lines; first ones:")
        for line in err_lines[:10]:
            print(f"    {line}")
    if not run.ok:
        return None, run
    row = Row(
        f"switchboard ingest, {name}", count, run.seconds, run.maxrss_kb / 1024, run.cpu_seconds
    )
    return row, run


def bench_sqlite(folder: Path, count: int, timeout: float, jobs: str) -> Row | None:
    with tempfile.TemporaryDirectory(prefix="sb-bench-sqlite-") as tmp:
        var = Path(tmp) / "var"
        env = child_env(SWITCHBOARD_VAR_DIR=str(var))
        row, run = ingest_backend("sqlite", folder, count, env, Path(tmp), timeout, jobs)
        if run is None:
            return None
        db = sum(p.stat().st_size for p in var.glob("switchboard.db*"))
        print(f"  sqlite: database size after ingest {db / MB:.0f} MB (with WAL)")
        if row is not None:
            row.note = f"db {db / MB:.0f} MB"
        return row


def postgres_reason(admin_url: str) -> str | None:
    """None when the server answers, else why it is skipped."""
    try:
        from sqlalchemy import create_engine, text
    except ImportError as exc:
        return f"SQLAlchemy is not importable: {exc}"
    try:
        engine = create_engine(admin_url, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "not reachable"
        return f"{admin_url} is not reachable: {str(exc).splitlines()[0]}"
    return None


def bench_postgres(
    folder: Path, count: int, timeout: float, admin_url: str, jobs: str
) -> Row | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    reason = postgres_reason(admin_url)
    if reason is not None:
        print(f"  postgresql: skipped: {reason}")
        return None
    name = f"sb_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        with tempfile.TemporaryDirectory(prefix="sb-bench-pg-") as tmp:
            var = str(Path(tmp) / "var")
            env = child_env(SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_VAR_DIR=var)
            row, run = ingest_backend("postgresql", folder, count, env, Path(tmp), timeout, jobs)
        if run is None:
            return None
        with admin.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(:n)"), {"n": name}).scalar_one()
        print(f"  postgresql: database size after ingest {size / MB:.0f} MB")
        if row is not None:
            row.note = f"db {size / MB:.0f} MB; server CPU/RSS not counted"
        return row
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- report ------------------------------------------------------------------------------


def machine_info(admin_url: str, want_pg: bool) -> list[str]:
    cpu_model = "?"
    mem = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / MB:.1f} GB"
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = [
        f"date        {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"machine     {platform.platform()}; {cpu_model}",
        f"cpus        os.cpu_count()={os.cpu_count()}, usable={usable}; memory {mem}",
        f"python      {platform.python_implementation()} {platform.python_version()}",
        f"sqlite      {sqlite3.sqlite_version}",
    ]
    if want_pg and postgres_reason(admin_url) is None:
        from sqlalchemy import create_engine, text

        engine = create_engine(admin_url)
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
        engine.dispose()
        info.append(f"postgresql  {version} at {admin_url.split('@')[-1]}")
    return info


def print_mix(stats: dict[str, Any], seconds: float) -> None:
    print(
        f"  {stats['count']} messages, {stats['total_bytes'] / MB:.1f} MB, "
        f"average {stats['average_bytes'] / 1024:.1f} KB, "
        f"median {stats['median_bytes'] / 1024:.1f} KB, "
        f"largest {stats['largest_bytes'] / 1024:.0f} KB (generated in {seconds:.1f} s)"
    )
    print(
        f"  with attachments {stats['share_with_attachments']:.1%} "
        f"({stats['attachments']} attachments), replies {stats['replies']}, "
        f"exact duplicates {stats['duplicates']}, forwarded message/rfc822 {stats['forwarded']}, "
        f"legacy-charset RFC 2047 headers {stats['encoded_legacy_headers']}"
    )
    print("  bodies    " + ", ".join(f"{k} {v}" for k, v in stats["kinds"].items()))
    print("  charsets  " + ", ".join(f"{k} {v}" for k, v in stats["charsets"].items()))
    print("  encodings " + ", ".join(f"{k} {v}" for k, v in stats["transfer_encodings"].items()))


def print_table(rows: list[Row], ceiling_rate: float) -> None:
    width = max(30, *(len(row.name) for row in rows))
    head = (
        f"{'backend':<{width}} {'messages':>8} {'seconds':>8} {'msg/s':>7} {'CPU s':>6} "
        f"{'peak RSS MB':>11} {'vs ceiling':>10}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        ratio = row.rate / ceiling_rate if ceiling_rate else 0.0
        print(
            f"{row.name:<{width}} {row.messages:>8} {row.seconds:>8.1f} {row.rate:>7.1f} "
            f"{row.cpu_seconds:>6.1f} {row.peak_rss_mb:>11.0f} {ratio:>9.2f}x  {row.note}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="size of the mix (default 5000)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the mix (default 2026)")
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both)",
    )
    parser.add_argument(
        "--jobs",
        type=lambda text: [j.strip() for j in text.split(",") if j.strip()],
        default=["0", "default"],
        help="comma-separated values of ingest --jobs to measure, each a row; 'default' "
        "leaves the option out (default: 0,default: parsing in the importing process, and "
        "with the default parser workers)",
    )
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", PG_ADMIN_URL),
        help="server where a fresh database is created and dropped",
    )
    parser.add_argument(
        "--folder", type=Path, help="write the mix here and keep it (default: a temporary folder)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600,
        help="give up on one measured command after this many seconds",
    )
    parser.add_argument(
        "--ceiling-only",
        type=Path,
        metavar="FOLDER",
        help="internal: run the ceiling on FOLDER and print its figures as JSON",
    )
    parser.add_argument(
        "--parser-only",
        type=Path,
        metavar="FOLDER",
        help="internal: run mailgate's parser on FOLDER, print figures as JSON",
    )
    parser.add_argument(
        "--checks-only",
        type=Path,
        metavar="FOLDER",
        help="internal: sign and sender-check every file in FOLDER, print figures as JSON",
    )
    parser.add_argument(
        "--no-sender-checks",
        action="store_true",
        help="leave out the sender checks on the mix (their signing takes about 7 ms a message)",
    )
    args = parser.parse_args(argv)

    if args.checks_only is not None:
        print(json.dumps(sender_checks(args.checks_only)))
        return 0
    if args.ceiling_only is not None:
        print(json.dumps(ceiling(args.ceiling_only)))
        return 0
    if args.parser_only is not None:
        print(json.dumps(parser_only(args.parser_only)))
        return 0

    backends = [b.strip().lower() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - {"sqlite", "postgresql"})
    if unknown:
        parser.error(f"unknown backends: {', '.join(unknown)}")

    print("Switchboard ingest benchmark")
    for line in machine_info(args.pg_admin_url, "postgresql" in backends):
        print(f"  {line}")

    tmp = None
    if args.folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="sb-bench-mail-")
        folder = Path(tmp.name) / "mail"
    else:
        folder = args.folder.resolve()
        if folder.exists() and any(folder.iterdir()):
            parser.error(f"{folder} is not empty")
    try:
        print(f"\nMail mix (seed {args.seed}) in {folder}")
        start = time.perf_counter()
        stats = mailmix.generate(folder, args.messages, args.seed)
        print_mix(stats, time.perf_counter() - start)

        print(
            "\nCeiling: email.message_from_bytes(policy=default), every part get_content(), "
            "five headers read, nothing stored"
        )
        run, data = run_stage("--ceiling-only", folder, args.timeout)
        if data is None:
            raise SystemExit(f"the ceiling run failed (exit {run.rc}):\n{run.stderr}")
        ceiling_row = Row(
            "stdlib parser (ceiling)",
            data["messages"],
            data["seconds"],
            run.maxrss_kb / 1024,
            run.cpu_seconds,
            note=f"{data['parts']} parts decoded, {data['errors']} errors",
        )
        print(
            f"  {data['messages']} messages, {data['parts']} parts decoded "
            f"({data['decoded_bytes'] / MB:.0f} MB of content), {data['errors']} errors, "
            f"{data['seconds']:.1f} s, {ceiling_row.rate:.0f} msg/s, "
            f"peak RSS {ceiling_row.peak_rss_mb:.0f} MB"
        )
        rows = [ceiling_row]

        print(
            "\nFor reference: mailgate.parser.parse_message alone (ingest's parse step, "
            "no database)"
        )
        run, data = run_stage("--parser-only", folder, args.timeout)
        if data is None:
            last = (run.stderr.strip().splitlines() or ["?"])[-1]
            print(f"  skipped: the parser does not run (exit {run.rc}): {last}")
        else:
            row = Row(
                "mailgate parser only (no DB)",
                data["messages"],
                data["seconds"],
                run.maxrss_kb / 1024,
                run.cpu_seconds,
                note=f"{data['attachments']} attachments, {data['defects']} defects",
            )
            print(
                f"  {data['messages']} messages, {data['attachments']} attachments, "
                f"{data['defects']} defects recorded, {data['seconds']:.1f} s, "
                f"{row.rate:.0f} msg/s, peak RSS {row.peak_rss_mb:.0f} MB"
            )
            rows.append(row)

        for backend in backends:
            for jobs in args.jobs:
                print(
                    f"\nswitchboard ingest --no-progress --jobs {jobs} FOLDER on {backend} "
                    "(fresh database)"
                )
                if backend == "sqlite":
                    measured = bench_sqlite(folder, stats["count"], args.timeout, jobs)
                else:
                    measured = bench_postgres(
                        folder, stats["count"], args.timeout, args.pg_admin_url, jobs
                    )
                if measured is not None:
                    rows.append(measured)

        print(
            "\nResults: msg/s = messages / wall seconds (the ceiling's and parser's own loop; "
            "ingest: the whole command);\nCPU s = user+system CPU of that process and its "
            "parser workers; peak RSS = ru_maxrss (VmHWM) of the largest of them"
        )
        print_table(rows, ceiling_row.rate)
        if not args.no_sender_checks:
            run, data = run_stage("--checks-only", folder, args.timeout)
            if data is None:
                last = (run.stderr.strip().splitlines() or ["?"])[-1]
                print(f"\nSender checks: did not run (exit {run.rc}): {last}")
            else:
                print_sender_checks(data, rows)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

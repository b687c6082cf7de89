"""Benchmark what one sender check costs in CPU: prints figures only.

Its one job: sign N messages of each size with DKIM (bench/smtp.py's signer and its DNS
server, in a process of its own, with SPF, DKIM and DMARC records for the senders' domain),
then time `mailgate.senderauth.check_message` on each, in this thread's CPU time, after a
warm-up (DNS answers cached, as on a busy gateway). SPF is neutral (`v=spf1 ?all`), so
DKIM must carry DMARC, as for forwarded mail: the costly case (with SPF passing for the
From domain, DKIM is not run at all). It prints the whole check and its parts (the From
header, the DMARC record, SPF, DKIM), with RSA verified by OpenSSL (what the checks use,
mailgate/senderauth/rsa.py) and by dkimpy's own arithmetic, alternately, `--rounds` times;
figures are the medians of the rounds. An older checkout without rsa.py is measured with
dkimpy's arithmetic only. Run it from the checkout to measure:

    .venv/bin/python bench/sendercheck.py [--messages N] [--sizes 2500,67000] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import dkim  # noqa: E402
import dkim.crypto  # noqa: E402
import smtp  # noqa: E402

from mailgate.senderauth import check  # noqa: E402
from mailgate.senderauth.resolver import Lookups  # noqa: E402
from queues.settings import Settings  # noqa: E402

ADDRESS = "127.0.0.1"


def _verifiers() -> dict[str, Callable[..., bool]]:
    found: dict[str, Callable[..., bool]] = {}
    try:
        from mailgate.senderauth.rsa import verify
    except ImportError:  # a checkout before the change: dkimpy's own only
        pass
    else:
        found["OpenSSL"] = verify
    found["dkimpy"] = dkim.crypto.RSASSA_PKCS1_v1_5_verify
    return found


def _cpu_ms(mails: list[Any], work: Callable[[Any], object]) -> float:
    started = time.thread_time()
    for mail in mails:
        work(mail)
    return (time.thread_time() - started) / len(mails) * 1000


def _round(mails: list[Any], settings: Settings, domain: str) -> dict[str, float]:
    lookups = Lookups(settings.dns_servers, settings.dns_timeout_seconds, 3600.0)
    parts: dict[str, Callable[[Any], object]] = {
        "whole check": lambda m: check.check_message(
            m.raw, client_ip=ADDRESS, helo="client.example", mail_from=m.mail_from,
            settings=settings,
        ),
        "From header": lambda m: check.from_header_domain(m.raw),
        "DMARC record": lambda m: check._dmarc_policy(lookups, domain),
        "SPF": lambda m: check._spf(lookups, ADDRESS, m.mail_from, "client.example"),
        "DKIM": lambda m: check._dkim(m.raw, lookups, domain),
    }  # fmt: skip
    return {name: _cpu_ms(mails, work) for name, work in parts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--sizes", default="2500,67000", help="bytes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    verifiers = _verifiers()
    print("Sender checks: CPU per message (thread time), SPF neutral so that DKIM decides")
    print(f"  {smtp.machine()}")
    print(f"  code measured: {smtp.code_measured()}")
    for size in (int(s) for s in args.sizes.split(",")):
        mails = [
            smtp.Mail(f"r{n}@example.net", smtp.make_message(n, size)) for n in range(args.messages)
        ]
        signed, records = smtp.sign(mails, spf="neutral")
        domain = check.from_header_domain(signed[0].raw)
        with smtp.dns_server(records) as (server, _queries):
            settings = Settings(dns_servers=(server,))
            verdict = check.check_message(
                signed[0].raw, client_ip=ADDRESS, helo="client.example",
                mail_from=signed[0].mail_from, settings=settings,
            )  # fmt: skip
            _round(signed[:50], settings, domain)  # warm-up: DNS cached, code loaded
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in verifiers}
            for _ in range(args.rounds):
                for name, verify in verifiers.items():
                    dkim.RSASSA_PKCS1_v1_5_verify = verify
                    rounds[name].append(_round(signed, settings, domain))
        kilobytes = len(signed[0].raw) / 1024
        print(
            f"{args.messages} messages of {kilobytes:.1f} KB, DKIM-signed; verdict "
            f"{verdict.verdict} (DKIM {verdict.dkim}, SPF {verdict.spf[0]}, DMARC "
            f"{verdict.dmarc[0]}); medians of {args.rounds} rounds, ms per message:"
        )
        for name, results in rounds.items():
            medians = {part: statistics.median(r[part] for r in results) for part in results[0]}
            shown = ", ".join(f"{part} {ms:.3f}" for part, ms in medians.items())
            print(f"  RSA by {name}: {shown}")
    dkim.RSASSA_PKCS1_v1_5_verify = next(iter(verifiers.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

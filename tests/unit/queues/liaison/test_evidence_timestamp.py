"""RFC 3161 timestamps over SHA256SUMS, against a local `openssl ts` authority on loopback:
the request, the package's token, what a partner's `openssl ts -verify` says, and every way
a token can be wrong."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from asn1crypto import tsp
from sqlalchemy.orm import Session, sessionmaker

from queues.liaison.evidence.package import build_package
from queues.liaison.evidence.timestamp import (
    TimestampError,
    check_chain,
    check_reply,
    make_request,
    request_timestamp,
)
from queues.liaison.evidence.verify import verify_package
from queues.settings import Settings

from .evidence_world import (
    evidence_home,
    evidence_settings,
    partner_check,
    receive,
    repack,
    report,
    unpack,
)
from .tsa import LocalTSA, make_tsa, query_for, reply_for_query, running_tsa

__all__ = ["evidence_home", "evidence_settings"]  # fixtures used by the tests below


@pytest.fixture(scope="module", params=["rsa", "ec"])
def tsa_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tsa(tmp_path_factory.mktemp(f"tsa-{request.param}"), request.param)


@pytest.fixture
def tsa(tsa_dir: Path) -> Iterator[LocalTSA]:
    with running_tsa(tsa_dir) as authority:
        yield authority


def test_the_request_is_what_openssl_reads(tmp_path: Path) -> None:
    request = make_request(b"SHA256SUMS contents\n", nonce=12345)
    (tmp_path / "q.tsq").write_bytes(request)
    shown = subprocess.run(
        ["openssl", "ts", "-query", "-in", "q.tsq", "-text"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "Hash Algorithm: sha256" in shown
    assert "Nonce: 0x3039" in shown
    assert "Certificate required: yes" in shown
    dump = shown.split("Message data:")[1].split("Policy OID")[0]
    # "    0000 - 2d 71 16 42 ... 44-01 62 ...   ASCII": the hex between " - " and the column.
    hex_digits = "".join(line.split(" - ", 1)[1][:48] for line in dump.strip().splitlines())
    imprint = hex_digits.replace("-", "").replace(" ", "")
    assert imprint == hashlib.sha256(b"SHA256SUMS contents\n").hexdigest()


def test_a_package_with_a_timestamp_checks_out_here_and_with_openssl(
    factory: sessionmaker[Session],
    evidence_settings: Settings,
    tsa: LocalTSA,
    tsa_dir: Path,
    tmp_path: Path,
) -> None:
    settings = replace(evidence_settings, timestamp_url=tsa.url)
    ticket = receive(factory, settings, report())
    with factory() as session:
        package = build_package(
            session, ticket.id, article_ids=None, exporter="op", case=None, settings=settings
        )
    files = unpack(package)
    assert "SHA256SUMS.tsr" in files and len(tsa.queries) == 1
    assert b"SHA256SUMS.tsr" not in files["SHA256SUMS"]  # a token over it cannot be in it

    result = verify_package(package, settings=settings, tsa_ca_file=str(tsa_dir / "ca.pem"))
    assert result.ok, result.problems
    assert any("timestamped at" in d for d in result.details)
    assert any("chains to" in d for d in result.details)

    # The partner: coreutils, gpg, then openssl with the authority's CA certificate.
    partner_check(package, settings, tmp_path / "partner")
    checked = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "SHA256SUMS", "-in", "SHA256SUMS.tsr",
         "-CAfile", str(tsa_dir / "ca.pem")],
        cwd=tmp_path / "partner", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr


def test_a_missing_or_foreign_token_fails_verification(
    factory: sessionmaker[Session], evidence_settings: Settings, tsa: LocalTSA, tsa_dir: Path
) -> None:
    settings = replace(evidence_settings, timestamp_url=tsa.url)
    ticket = receive(factory, settings, report())
    with factory() as session:
        files = unpack(build_package(session, ticket.id, article_ids=None, exporter="op",
                                     case=None, settings=settings))  # fmt: skip

    without = {k: v for k, v in files.items() if k != "SHA256SUMS.tsr"}
    result = verify_package(repack(without), settings=settings)
    assert result.problems == [
        "SHA256SUMS.tsr is missing, but the manifest names a timestamp authority"
    ]
    foreign = dict(files, **{"SHA256SUMS.tsr": reply_for_query(tsa_dir, query_for(tsa_dir, b"x"))})
    result = verify_package(repack(foreign), settings=settings)
    assert result.problems == [
        "SHA256SUMS.tsr: the timestamp is not over this SHA256SUMS (its hash differs)"
    ]
    # A CA the authority does not chain to: our signature check passes, the chain does not.
    other_ca = make_tsa(tsa_dir.parent / f"{tsa_dir.name}-other")
    result = verify_package(repack(files), settings=settings,
                            tsa_ca_file=str(other_ca / "ca.pem"))  # fmt: skip
    assert len(result.problems) == 1 and "openssl ts -verify failed" in result.problems[0]


def test_an_authority_that_fails_stops_the_package(
    factory: sessionmaker[Session], evidence_settings: Settings, tsa: LocalTSA
) -> None:
    settings = replace(evidence_settings, timestamp_url=tsa.url)
    ticket = receive(factory, settings, report())
    for mode, reason in (
        ("other-data", "not over this SHA256SUMS"),
        ("garbage", "not an RFC 3161 timestamp reply"),
        ("http-error", "answered HTTP 503"),
    ):
        tsa.mode = mode
        with factory() as session, pytest.raises(TimestampError, match=reason):
            build_package(session, ticket.id, article_ids=None, exporter="op", case=None,
                          settings=settings)  # fmt: skip
    closed = replace(settings, timestamp_url="http://127.0.0.1:9/tsa", timestamp_timeout_seconds=5)
    with pytest.raises(TimestampError, match="cannot reach"):
        request_timestamp(b"x", closed)
    with pytest.raises(TimestampError, match="http or https"):
        request_timestamp(b"x", replace(settings, timestamp_url="file:///etc/passwd"))


def test_a_reply_to_another_request_is_refused(tsa_dir: Path) -> None:
    data = b"SHA256SUMS\n"
    reply = reply_for_query(tsa_dir, make_request(data, nonce=1))
    assert check_reply(reply, data, nonce=1).hash_algorithm == "sha256"
    with pytest.raises(TimestampError, match="nonce differs"):
        check_reply(reply, data, nonce=2)


def test_every_byte_of_a_token_is_checked(tsa_dir: Path) -> None:
    """Flip each byte of a real reply: each change is caught, but one: the PKIStatus value,
    granted (0) -> grantedWithMods (1), a status an authority may send with the very same
    token (RFC 3161 section 2.4.2), so the token still proves the same."""
    data = b"SHA256SUMS contents\n"
    reply = reply_for_query(tsa_dir, make_request(data, nonce=7))
    status_at = reply.index(bytes(tsp.PKIStatusInfo({"status": "granted"}).dump())) + 4
    assert check_reply(reply, data).serial_number > 0
    missed = []
    for position in range(len(reply)):
        changed = bytearray(reply)
        changed[position] ^= 0x01
        try:
            check_reply(bytes(changed), data)
        except TimestampError:
            continue
        missed.append(position)
    assert missed == [status_at]


def test_the_chain_check_runs_openssl(tsa_dir: Path, tmp_path: Path) -> None:
    data = b"SHA256SUMS\n"
    reply = reply_for_query(tsa_dir, make_request(data, nonce=3))
    assert check_chain(reply, data, str(tsa_dir / "ca.pem")) is None
    assert "does not exist" in (check_chain(reply, data, str(tmp_path / "none.pem")) or "")
    failure = check_chain(reply, b"other\n", str(tsa_dir / "ca.pem"))
    assert failure is not None and failure.startswith("openssl ts -verify failed")

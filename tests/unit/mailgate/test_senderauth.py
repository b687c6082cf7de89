"""DKIM, SPF and DMARC at the embedded gateway, against a real DNS server on a socket.

tests/dnsstub.py serves the records on 127.0.0.1 (dnspython on both ends); DKIM signatures
are made with dkimpy and a key generated per test session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mailgate.senderauth.check as check_module
from mailgate.senderauth import check_message
from mailgate.senderauth.check import from_header_domain, header_block
from queues.settings import Settings
from queues.trust.verdict import FAIL, NONE, PASS, AuthVerdict
from tests.dnsstub import DkimKey, DnsStub, dns_stub, new_dkim_key

CLIENT = "127.0.0.1"


@pytest.fixture(scope="module")
def key() -> DkimKey:
    return new_dkim_key()


@pytest.fixture
def stub(key: DkimKey) -> Iterator[DnsStub]:
    with dns_stub() as server:
        # The victim's domain: DKIM key, strict SPF, DMARC reject.
        server.add("test._domainkey.example.net", "TXT", key.record)
        server.add("example.net", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
        server.add("_dmarc.example.net", "TXT", "v=DMARC1; p=reject; rua=mailto:d@example.net")
        # The attacker's domain: SPF allows the test client.
        server.add("evil.test", "TXT", "v=spf1 ip4:127.0.0.1 -all")
        server.add("test._domainkey.evil.test", "TXT", key.record)
        # A domain without any policy.
        server.add("plain.example", "A", "192.0.2.99")
        yield server


def settings_for(stub: DnsStub, settings: Settings) -> Settings:
    return replace(settings, dns_servers=(stub.address,), dns_timeout_seconds=0.5)


def message(sender: str = "victim@example.net", body: str = "Please help me.\r\n") -> bytes:
    return (
        f"From: Someone <{sender}>\r\nTo: help@example.org\r\nSubject: help\r\n"
        f"Message-ID: <m1@{sender.partition('@')[2]}>\r\n\r\n{body}"
    ).encode()


def check(raw: bytes, mail_from: str, settings: Settings) -> AuthVerdict:
    return check_message(
        raw, client_ip=CLIENT, helo="client.example", mail_from=mail_from, settings=settings
    )


def test_an_aligned_dkim_signature_passes_dmarc(
    stub: DnsStub, key: DkimKey, settings: Settings
) -> None:
    raw = key.sign(message(), "example.net")
    # Sent through a forwarder: SPF fails for the victim's domain, DKIM carries DMARC.
    verdict = check(raw, "victim@example.net", settings_for(stub, settings))
    assert verdict.verdict == PASS
    assert verdict.dkim == (("pass", "example.net"),)
    assert verdict.spf == ("fail", "example.net")
    assert verdict.dmarc == ("pass", "reject")


def test_a_forged_from_fails_dmarc_even_when_the_envelope_passes_spf(
    stub: DnsStub, settings: Settings
) -> None:
    verdict = check(message(), "attacker@evil.test", settings_for(stub, settings))
    assert verdict.verdict == FAIL
    assert verdict.spf == ("pass", "evil.test")
    assert verdict.dmarc == ("fail", "reject")
    assert "dmarc=fail (p=reject) header.from=example.net" in verdict.summary()


def test_spf_fail_without_dmarc_is_a_fail(stub: DnsStub, settings: Settings) -> None:
    stub.records.pop(("_dmarc.example.net", "TXT"))
    verdict = check(message(), "victim@example.net", settings_for(stub, settings))
    assert verdict.verdict == FAIL and verdict.dmarc == ("none", "")


def test_a_tampered_signature_does_not_pass(
    stub: DnsStub, key: DkimKey, settings: Settings
) -> None:
    raw = key.sign(message(), "example.net").replace(b"Please help me.", b"Close my case.")
    verdict = check(raw, "victim@example.net", settings_for(stub, settings))
    assert verdict.dkim == (("fail", "example.net"),)
    assert verdict.verdict == FAIL


def test_no_records_is_unknown(stub: DnsStub, settings: Settings) -> None:
    verdict = check(
        message("someone@plain.example"), "someone@plain.example", settings_for(stub, settings)
    )
    assert verdict.verdict == NONE
    assert verdict.spf == ("none", "plain.example") and verdict.dmarc == ("none", "")


def test_a_dns_outage_is_unknown_never_a_fail(stub: DnsStub, settings: Settings) -> None:
    stub.silent |= {"example.net", "_dmarc.example.net"}
    verdict = check(message(), "victim@example.net", settings_for(stub, settings))
    assert verdict.verdict == NONE
    assert verdict.dmarc == ("temperror", "") and verdict.spf[0] == "temperror"
    assert any(note.startswith("DNS: ") for note in verdict.notes)


def test_no_dns_server_at_all_is_unknown(settings: Settings) -> None:
    with dns_stub() as gone:
        address = gone.address
    quiet = replace(
        settings, dns_servers=(address,), dns_timeout_seconds=0.2, sender_check_seconds=1
    )
    assert check(message(), "victim@example.net", quiet).verdict == NONE


def test_a_signature_of_a_slow_foreign_domain_cannot_spend_the_budget(
    stub: DnsStub, key: DkimKey, settings: Settings
) -> None:
    # The attacker signs with d=slow.test whose DNS never answers: it is not verified at all
    # (it cannot align with From), so DMARC still fails for the forged victim address.
    stub.silent.add("test._domainkey.slow.test")
    raw = key.sign(message(), "slow.test")
    verdict = check(raw, "attacker@evil.test", settings_for(stub, settings))
    assert verdict.verdict == FAIL
    assert ("test._domainkey.slow.test", "TXT") not in stub.queries


def test_an_attackers_own_valid_signature_does_not_help_a_forged_from(
    stub: DnsStub, key: DkimKey, settings: Settings
) -> None:
    raw = key.sign(message(), "evil.test")
    assert check(raw, "attacker@evil.test", settings_for(stub, settings)).verdict == FAIL


def test_a_dns_failure_at_the_aligned_spf_domain_is_temperror_not_fail(
    stub: DnsStub, settings: Settings
) -> None:
    stub.silent.add("example.net")  # SPF record lookup times out; DMARC record answers
    verdict = check(message(), "victim@example.net", settings_for(stub, settings))
    assert verdict.dmarc == ("temperror", "reject") and verdict.verdict == NONE


def test_from_header_domain_needs_exactly_one_address() -> None:
    assert from_header_domain(message()) == "example.net"
    assert from_header_domain(b"From: a@x.example, b@y.example\r\n\r\n") == ""
    assert from_header_domain(b"From: a@x.example\r\nFrom: b@y.example\r\n\r\n") == ""
    assert from_header_domain(b"Subject: none\r\n\r\n") == ""


def test_the_from_check_parses_the_header_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[bytes] = []

    class Spy(BytesHeaderParser):
        def parsebytes(self, text: bytes | bytearray, headersonly: bool = True) -> Message:
            parsed.append(bytes(text))
            return super().parsebytes(text, headersonly)

    monkeypatch.setattr(check_module, "BytesHeaderParser", Spy)
    head = message().partition(b"\r\n\r\n")[0]
    body = b"From: someone.else@evil.test\r\n" + b"A line of a big attachment.\r\n" * 40_000
    assert from_header_domain(head + b"\r\n\r\n" + body) == "example.net"
    assert parsed == [head + b"\r\n\r\n"]


# Pieces of header blocks with every kind of line end (CR LF, LF, CR alone, and what
# str.splitlines also splits at), folds, From lines in and after the header, no header.
_PIECES = [b"From: a@x.example", b"From: b@y.example", b"Subject: s", b"From a@x.example",
           b" folded", b"\t<c@z.example>", b"body", b"no colon", b":", b"\r\n", b"\n", b"\r",
           b"\x0c", b"\x1c"]  # fmt: skip


@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_the_header_block_parses_as_the_whole_message_does(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    assert raw.startswith(header_block(raw))
    whole = BytesHeaderParser(policy=compat32).parsebytes(raw)
    block = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    assert block.items() == whole.items()


def _count_dkim_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    runs: list[int] = []
    real = check_module._dkim

    def counting(*args: object, **kwargs: object) -> list[tuple[str, str]]:
        runs.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(check_module, "_dkim", counting)
    return runs


def test_an_aligned_spf_pass_decides_without_dkim(
    stub: DnsStub, key: DkimKey, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DMARC needs one aligned pass (RFC 7489 4.2): with SPF's, DKIM (most of the checks'
    cost) cannot change the verdict and is not run; the article says so."""
    stub.records[("example.net", "TXT")] = ["v=spf1 ip4:127.0.0.1 -all"]
    runs = _count_dkim_runs(monkeypatch)
    # Even a signature that would fail: the envelope domain proved the sender already.
    raw = key.sign(message(), "example.net").replace(b"Please help me.", b"Close my case.")
    verdict = check(raw, "victim@example.net", settings_for(stub, settings))
    assert runs == []
    assert verdict.verdict == PASS and verdict.dmarc == ("pass", "reject")
    assert verdict.dkim == () and verdict.spf == ("pass", "example.net")
    assert "dkim not checked: SPF passed for an aligned domain" in verdict.summary()
    assert "dkim=none" not in verdict.summary()


def test_strict_spf_alignment_keeps_dkim_in_play(
    stub: DnsStub, key: DkimKey, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aspf=s: an envelope at a subdomain passes SPF but does not align, so DKIM decides."""
    stub.records[("_dmarc.example.net", "TXT")] = ["v=DMARC1; p=reject; aspf=s"]
    stub.add("bounces.example.net", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    runs = _count_dkim_runs(monkeypatch)
    raw = key.sign(message(), "example.net")
    verdict = check(raw, "b-123@bounces.example.net", settings_for(stub, settings))
    assert runs == [1]
    assert verdict.dkim == (("pass", "example.net"),) and verdict.verdict == PASS
    tampered = raw.replace(b"Please help me.", b"Close my case.")
    verdict = check(tampered, "b-123@bounces.example.net", settings_for(stub, settings))
    assert verdict.dmarc == ("fail", "reject") and verdict.verdict == FAIL


def test_an_spf_pass_for_another_domain_keeps_dkim_in_play(
    stub: DnsStub, key: DkimKey, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _count_dkim_runs(monkeypatch)
    raw = key.sign(message(), "example.net")
    verdict = check(raw, "list-bounces@evil.test", settings_for(stub, settings))
    assert runs == [1]
    assert verdict.spf == ("pass", "evil.test") and verdict.dkim == (("pass", "example.net"),)
    assert verdict.verdict == PASS

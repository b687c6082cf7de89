"""The pure rules of queues.trust: Authentication-Results, DMARC, alignment, standing, tokens."""

from __future__ import annotations

import pytest

from queues.trust import replytokens
from queues.trust.authresults import header_fields, verdict_from_headers
from queues.trust.dmarc import DmarcPolicy, evaluate, parse_record, select_record
from queues.trust.orgdomain import aligned, organisational_domain
from queues.trust.verdict import FAIL, NONE, PASS, AuthVerdict, Standing, decide, sender_standing

OURS = ("mx.help.example.org",)
BORDER = (
    b"Received: from mail.example.net (mail.example.net [192.0.2.1])\r\n"
    b"\tby mx.help.example.org (Postfix) with ESMTPS id 4Q;\r\n\tThu, 3 Dec 2026 10:00:00 +0000\r\n"
)
MESSAGE = b"From: Victim <victim@example.net>\r\nSubject: hi\r\n\r\nbody\r\n"


def ar(value: str) -> bytes:
    return f"Authentication-Results: {value}\r\n".encode()


def verdict(raw: bytes, ids: tuple[str, ...] = OURS) -> AuthVerdict:
    return verdict_from_headers(raw, ids, "example.net", skip_own_received=False)


# --- Authentication-Results (RFC 8601) -------------------------------------------------------


def test_our_milters_results_above_the_border_received_are_read() -> None:
    raw = (
        ar("mx.help.example.org; dmarc=pass (p=reject dis=none) header.from=example.net")
        + ar("mx.help.example.org; spf=pass smtp.mailfrom=victim@example.net")
        + ar(
            "mx.help.example.org; dkim=pass (2048-bit key) header.d=example.net"
            " header.i=@example.net"
        )
        + BORDER
        + MESSAGE
    )
    found = verdict(raw)
    assert found.verdict == PASS
    assert found.dmarc == ("pass", "reject")
    assert found.spf == ("pass", "example.net")
    assert found.dkim == (("pass", "example.net"),)
    assert found.source == "authentication-results mx.help.example.org"


def test_rspamd_style_single_field_with_a_dmarc_fail() -> None:
    raw = (
        ar(
            "mx.help.example.org; dkim=none; spf=pass (mx: domain of a@evil.test designates "
            '192.0.2.9 as permitted sender) smtp.mailfrom=a@evil.test; dmarc=fail reason="No '
            'valid SPF, No valid DKIM" header.from=example.net (policy=reject)'
        )
        + BORDER
        + MESSAGE
    )
    found = verdict(raw)
    assert found.verdict == FAIL and found.dmarc[0] == "fail"


def test_a_forged_field_below_the_border_received_is_ignored() -> None:
    # The sender wrote our own authserv-id into its message: it sits below Postfix's Received.
    raw = BORDER + ar("mx.help.example.org; dmarc=pass header.from=example.net") + MESSAGE
    found = verdict(raw)
    assert found.verdict == NONE and found.dmarc == ("", "")


def test_someone_elses_authserv_id_is_ignored() -> None:
    raw = ar("mx.evil.test; dmarc=pass header.from=example.net") + BORDER + MESSAGE
    assert verdict(raw).verdict == NONE
    # ... even when the id only differs in a suffix.
    lookalike = "mx.help.example.org.evil.test"
    raw = ar(f"{lookalike}; dmarc=pass header.from=example.net") + BORDER + MESSAGE
    assert verdict(raw).verdict == NONE


def test_no_border_received_means_nothing_is_known_to_be_ours() -> None:
    raw = ar("mx.help.example.org; dmarc=pass header.from=example.net") + MESSAGE
    assert verdict(raw).verdict == NONE


def test_our_gateways_own_received_is_skipped_first() -> None:
    ours = b"Received: from localhost ([127.0.0.1])\r\n\tby mx with LMTP id 1;\r\n\tThu, 3 Dec\r\n"
    raw = ours + ar("mx.help.example.org; dmarc=fail header.from=example.net") + BORDER + MESSAGE
    found = verdict_from_headers(raw, OURS, "example.net", skip_own_received=True)
    assert found.verdict == FAIL


def test_without_trusted_ids_nothing_is_read_and_malformed_fields_are_skipped() -> None:
    raw = ar("mx.help.example.org; dmarc=pass header.from=example.net") + BORDER + MESSAGE
    assert verdict(raw, ids=()).verdict == NONE
    assert "no trusted_authserv_ids" in verdict(raw, ids=()).summary()
    broken = ar("mx.help.example.org; ;;; =") + ar(
        "mx.help.example.org; dkim=pass header.d=example.net"
    )
    assert verdict(broken + BORDER + MESSAGE).verdict == PASS


def test_header_fields_unfold_and_stop_at_the_body() -> None:
    raw = b"A: one\r\n two\r\nB: three\r\n\r\nC: not a header\r\n"
    assert list(header_fields(raw)) == [("a", "one two"), ("b", "three")]


# --- DMARC and alignment -------------------------------------------------------------------------


def test_dmarc_records() -> None:
    assert parse_record("v=DMARC1; p=reject; sp=none; adkim=s") == DmarcPolicy(
        "reject", "none", "s", "r"
    )
    assert parse_record("v=DMARC1; rua=mailto:x@example.net") == DmarcPolicy("none", "none")
    assert parse_record("v=spf1 -all") is None
    assert parse_record("p=reject; v=DMARC1") is None  # v= must come first
    assert select_record(["v=DMARC1; p=reject", "v=DMARC1; p=none"]) is None  # two: none


def test_dmarc_evaluation() -> None:
    reject = DmarcPolicy("reject", "quarantine")
    kwargs: dict[str, object] = {"spf_result": "none", "spf_domain": ""}
    assert (
        evaluate(
            "example.net",
            reject,
            policy_domain="example.net",
            dkim=[("pass", "mail.example.net")],
            **kwargs,
        ).result
        == "pass"
    )  # type: ignore[arg-type]
    sub = evaluate("a.example.net", reject, policy_domain="example.net", dkim=[], **kwargs)  # type: ignore[arg-type]
    assert (sub.result, sub.policy) == ("fail", "quarantine")  # sp= for a subdomain
    strict = DmarcPolicy("reject", "reject", adkim="s")
    assert (
        evaluate(
            "example.net",
            strict,
            policy_domain="example.net",
            dkim=[("pass", "mail.example.net")],
            **kwargs,
        ).result
        == "fail"
    )  # type: ignore[arg-type]
    assert evaluate("example.net", None, policy_domain="", dkim=[], **kwargs).result == "none"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("mail.example.co.uk", "example.co.uk", True),
        ("example.co.uk", "other.co.uk", False),
        ("bücher.example", "xn--bcher-kva.example", True),
        ("a.github.io", "b.github.io", False),  # a private public suffix
        ("", "example.net", False),
    ],
)
def test_relaxed_alignment(a: str, b: str, expected: bool) -> None:
    assert aligned(a, b) is expected


def test_organisational_domain() -> None:
    assert organisational_domain("deep.mail.example.com") == "example.com"


# --- the verdict and the sender's standing -----------------------------------------------------


def test_decide() -> None:
    assert decide("example.net", dmarc=("fail", "none")).verdict == FAIL  # whatever the policy
    assert decide("example.net", spf=("fail", "example.net")).verdict == FAIL
    assert (
        decide("example.net", spf=("fail", "x.test"), dkim=[("pass", "example.net")]).verdict
        == PASS
    )
    assert decide("example.net", spf=("pass", "mail.example.net")).verdict == PASS
    assert decide("example.net", spf=("pass", "other.test")).verdict == NONE
    assert decide("example.net", spf=("softfail", "example.net")).verdict == NONE
    assert decide("example.net", dmarc=("temperror", "")).verdict == NONE


def test_verdict_round_trip() -> None:
    v = decide("example.net", dkim=[("pass", "example.net")], spf=("fail", "x.test"), source="smtp")
    assert AuthVerdict.from_json(v.to_json()) == v
    assert AuthVerdict.from_json(None) is None
    assert AuthVerdict.from_json({"verdict": "bogus"}) == AuthVerdict(NONE)


@pytest.mark.parametrize(
    ("claimed", "envelope", "auth", "expected"),
    [
        ("v@example.net", None, None, Standing.PLAUSIBLE),  # a file: no envelope at all
        ("v@example.net", "v@example.net", None, Standing.PLAUSIBLE),
        ("v@example.net", "bounce@mail.example.net", None, Standing.PLAUSIBLE),
        ("v@example.net", "attacker@evil.test", None, Standing.UNPROVEN),
        ("v@example.net", "", None, Standing.UNPROVEN),  # the null path
        (
            "v@example.net",
            "attacker@evil.test",
            decide("example.net", dkim=[("pass", "example.net")]),
            Standing.PROVEN,
        ),
        (
            "v@example.net",
            "v@example.net",
            decide("example.net", dmarc=("fail", "reject")),
            Standing.FAILED,
        ),
        ("no-domain", "v@example.net", None, Standing.UNPROVEN),
    ],
)
def test_sender_standing(
    claimed: str, envelope: str | None, auth: AuthVerdict | None, expected: Standing
) -> None:
    assert sender_standing(claimed, envelope, auth) is expected


# --- reply tokens (the parts without a database) -----------------------------------------------


def test_reply_token_addresses() -> None:
    ours = frozenset({"help@example.org", "safety@example.org"})
    token = replytokens.new_token()
    assert len(token) == replytokens.TOKEN_LENGTH and token != replytokens.new_token()
    address = replytokens.reply_address("help@example.org", token)
    assert replytokens.tokens_in([address.upper()], ours) == [token]
    assert replytokens.tokens_in([f"help+{token}@elsewhere.example"], ours) == []
    assert replytokens.tokens_in(["help+short@example.org"], ours) == []
    assert replytokens.base_address(address) == "help@example.org"
    assert replytokens.is_ours("Safety+anything@Example.org", ours)
    assert not replytokens.is_ours("other+x@example.org", ours)

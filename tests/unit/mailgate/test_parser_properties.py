"""Properties of the parser on generated input (hypothesis): it never raises, and the
requester is found whenever one of From, Reply-To, Sender or Return-Path holds a usable
address, in the documented order, however broken the other lines of the header are."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgate.parser import parse_message
from queues.mail import IncomingMail

# Deadlines are timing assertions; speed is measured by bench/, not by tests.
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# RFC 5322 atext without "'": the parser strips quotes that people put around a whole
# address ('ann@example.net'), so a local part made of a lone apostrophe is not kept.
ATEXT = string.ascii_letters + string.digits + "!#$%&*+/=?^_`{|}~-"
LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
LOCAL = st.lists(st.text(ATEXT, min_size=1, max_size=12), min_size=1, max_size=3).map(".".join)
DOMAIN = st.lists(LABEL, min_size=2, max_size=4).map(".".join)
NAME = st.text(string.ascii_letters + " ", max_size=20).map(str.strip)


@st.composite
def addresses(draw: st.DrawFn) -> str:
    return f"{draw(LOCAL)}@{draw(DOMAIN)}"


@st.composite
def mailbox_values(draw: st.DrawFn, email: str) -> str:
    """`email` written in one of the forms a mailbox field takes."""
    name = draw(NAME)
    forms = [email, f"<{email}>", f"{name} <{email}>", f'"{name}" <{email}>', f"{email} ({name})"]
    return draw(st.sampled_from(forms))


UNUSABLE = st.sampled_from(
    ["<>", "", "nobody", "Ann", "ann@", "@example.net", '""', "undisclosed-recipients:;", "<<>>"]
)
GARBAGE_LINE = st.text(
    st.characters(codec="latin-1", exclude_characters="\r\n:"), min_size=1, max_size=40
).filter(lambda s: s[0] not in " \t" and not s.startswith("From "))


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A message whose four sender fields are each usable, unusable or absent, in random
    order, with broken lines (lost folds) and stray leading lines; the usable addresses."""
    usable: dict[str, str] = {}
    fields: list[str] = []
    for field in ("From", "Reply-To", "Sender", "Return-Path"):
        choice = draw(st.sampled_from(["usable", "unusable", "absent"]))
        if choice == "usable":
            usable[field.lower()] = draw(addresses())
            fields.append(f"{field}: {draw(mailbox_values(usable[field.lower()]))}")
        elif choice == "unusable":
            fields.append(f"{field}: {draw(UNUSABLE)}")
    fields += ["To: help@example.org", "Subject: please help", "Received: by mx.example.org"]
    fields = draw(st.permutations(fields))
    lines: list[str] = []
    for field in fields:
        lines.append(field)
        # A fold that lost its whitespace, after a field whose value is not checked (joined
        # to a sender field, it would rightly change that field's value).
        if field.startswith(("To:", "Subject:", "Received:")) and draw(st.booleans()):
            lines.append(draw(GARBAGE_LINE))
    stray = draw(st.sampled_from(["", "\n", ">From x@y Mon Jan  6 10:00:00 2025\n"]))
    raw = (stray + "\n".join(lines) + "\n\nThe body.\n").encode("latin-1")
    return raw, usable


def expected_requester(usable: dict[str, str]) -> tuple[str, str] | None:
    for field, source in (
        ("from", "from"),
        ("reply-to", "reply-to"),
        ("sender", "sender"),
        ("return-path", "envelope"),
    ):
        if field in usable:
            return usable[field], source
    return None


@PROPERTY
@given(st.binary(max_size=3000))
def test_never_raises_on_bytes(raw: bytes) -> None:
    mail = parse_message(raw)
    assert isinstance(mail, IncomingMail)
    assert mail.requester is None or "@" in mail.requester.email


@PROPERTY
@given(st.lists(st.one_of(GARBAGE_LINE, st.sampled_from(["", " ", "From: x@y.z", "\t"]))))
def test_never_raises_on_broken_header_blocks(lines: list[str]) -> None:
    parse_message("\n".join(lines).encode("latin-1"))


@PROPERTY
@given(messages())
def test_requester_found_when_any_field_holds_an_address(
    case: tuple[bytes, dict[str, str]],
) -> None:
    raw, usable = case
    mail = parse_message(raw)
    expected = expected_requester(usable)
    if expected is None:
        assert mail.requester is None and mail.requester_source == ""
        return
    assert mail.requester is not None, mail.defects
    assert (mail.requester.email, mail.requester_source) == expected
    assert mail.subject == "please help" or mail.subject.startswith("please help ")

"""The organisation's signing key and partners' keys (python-gnupg over Debian's gpg).

Test keys are made with gpg itself, in keyrings of their own, as a partner would make them;
what our code signs or encrypts is checked with gpg too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from queues.liaison.evidence.keys import (
    KeyringError,
    encrypt_for,
    ensure_org_key,
    import_check,
    org_key_fingerprint,
    public_key,
    sign_detached,
    verify_detached,
)
from queues.settings import Settings

from .evidence_world import gpg, short_dir, stop_gpg


@dataclass(frozen=True)
class PgpKey:
    home: Path
    armored: str
    fingerprint: str


def _make_key(uid: str, *args: str, faked_time: str | None = None) -> PgpKey:
    home = short_dir("sb-key-")
    when = ["--faked-system-time", faked_time] if faked_time else []
    made = gpg(home, *when, "--passphrase", "", "--quick-gen-key", uid, *args)
    assert made.returncode == 0, made.stderr
    listing = gpg(home, "--with-colons", "--list-keys").stdout.decode()
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:")
    armored = gpg(home, "--armor", "--export", fingerprint).stdout.decode()
    return PgpKey(home, armored, fingerprint)


@pytest.fixture(scope="module")
def partner() -> Iterator[PgpKey]:
    key = _make_key("Test Police <referrals@police.example>", "future-default", "default")
    yield key
    stop_gpg(key.home)


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Settings]:
    home = short_dir("sb-org-")
    yield Settings(var_dir=tmp_path, database_url="sqlite://", gnupg_home=str(home),
                   organisation="Example help team", hostname="help.example.org")  # fmt: skip
    stop_gpg(home)


def test_the_organisation_key_is_made_once_and_signs(org: Settings, tmp_path: Path) -> None:
    assert org_key_fingerprint(org) is None
    fingerprint = ensure_org_key(org)
    assert ensure_org_key(org) == fingerprint == org_key_fingerprint(org)
    assert org.gnupg_dir.stat().st_mode & 0o777 == 0o700

    armored = public_key(org)
    assert armored.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    signature = sign_detached(b"SHA256SUMS contents\n", org)
    assert signature.startswith(b"-----BEGIN PGP SIGNATURE-----")
    assert (org.gnupg_dir / "S.gpg-agent").exists()  # gpg's agent holds the secret key

    # A partner imports the public key and checks the signature with gpg alone.
    home = short_dir("sb-check-")
    try:
        assert gpg(home, "--import", data=armored.encode()).returncode == 0
        uids = gpg(home, "--with-colons", "--list-keys").stdout.decode()
        assert "Example help team (evidence packages) <evidence@help.example.org>" in uids
        (tmp_path / "data").write_bytes(b"SHA256SUMS contents\n")
        (tmp_path / "data.asc").write_bytes(signature)
        checked = gpg(home, "--status-fd", "1", "--verify", str(tmp_path / "data.asc"),
                      str(tmp_path / "data"))  # fmt: skip
        assert checked.returncode == 0 and f"VALIDSIG {fingerprint}".encode() in checked.stdout
    finally:
        stop_gpg(home)
    assert verify_detached(signature, b"SHA256SUMS contents\n", armored) == fingerprint
    with pytest.raises(ValueError, match="does not verify"):
        verify_detached(signature, b"SHA256SUMS changed\n", armored)


def test_which_key_signs_when_the_keyring_holds_several(org: Settings) -> None:
    first = ensure_org_key(org)
    # A second secret key in the same keyring (an operator's import, say).
    other = _make_key("Someone <someone@example.org>", "ed25519", "sign", "never")
    try:
        exported = gpg(other.home, "--armor", "--pinentry-mode", "loopback", "--passphrase", "",
                       "--export-secret-keys", other.fingerprint).stdout  # fmt: skip
        assert gpg(org.gnupg_dir, "--import", data=exported).returncode == 0
    finally:
        stop_gpg(other.home)
    with pytest.raises(KeyringError, match="set evidence_key_fingerprint"):
        org_key_fingerprint(org)
    chosen = Settings(**{**org.__dict__, "evidence_key_fingerprint": first.lower()})
    assert org_key_fingerprint(chosen) == first
    assert verify_detached(sign_detached(b"x", chosen), b"x", public_key(chosen)) == first
    unknown = Settings(**{**org.__dict__, "evidence_key_fingerprint": "AB" * 20})
    with pytest.raises(KeyringError, match="is not a secret key"):
        org_key_fingerprint(unknown)


def test_a_keyring_path_too_long_for_the_agent_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / ("k" * 120)
    settings = Settings(database_url="sqlite://", gnupg_home=str(deep))
    with pytest.raises(KeyringError, match="too long for gpg's agent socket"):
        ensure_org_key(settings)


def test_a_partner_key_is_checked(partner: PgpKey, org: Settings) -> None:
    assert import_check(partner.armored) == partner.fingerprint

    with pytest.raises(ValueError, match="no key given"):
        import_check("   ")
    with pytest.raises(ValueError, match="not an OpenPGP public key"):
        import_check("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm9wZQ==\n-----END PGP PUBLIC KEY")
    with pytest.raises(ValueError, match="2 keys"):
        import_check(partner.armored + public_key_of_a_new_key())
    ensure_org_key(org)
    with pytest.raises(ValueError, match="cannot encrypt"):
        import_check(public_key(org))  # signing only
    secret = gpg(partner.home, "--armor", "--pinentry-mode", "loopback", "--passphrase", "",
                 "--export-secret-keys", partner.fingerprint).stdout.decode()  # fmt: skip
    with pytest.raises(ValueError, match="private key"):
        import_check(secret)


def public_key_of_a_new_key() -> str:
    key = _make_key("Other <other@police.example>", "future-default", "default")
    stop_gpg(key.home)
    return key.armored


def test_expired_and_revoked_partner_keys_are_refused() -> None:
    expired = _make_key("Old <old@police.example>", "future-default", "default", "1d",
                        faked_time="20200101T000000")  # fmt: skip
    revoked = _make_key("Gone <gone@police.example>", "future-default", "default")
    try:
        with pytest.raises(ValueError, match="expired"):
            import_check(expired.armored)
        certificate = (revoked.home / "openpgp-revocs.d" / f"{revoked.fingerprint}.rev").read_text()
        # gpg stores the certificate with a ':' so that it is not imported by accident.
        certificate = certificate.replace(":-----BEGIN", "-----BEGIN")
        assert gpg(revoked.home, "--import", data=certificate.encode()).returncode == 0
        armored = gpg(revoked.home, "--armor", "--export", revoked.fingerprint).stdout.decode()
        with pytest.raises(ValueError, match="revoked"):
            import_check(armored)
    finally:
        stop_gpg(expired.home)
        stop_gpg(revoked.home)


def test_a_package_encrypted_for_the_partner_opens_with_their_key(
    partner: PgpKey, org: Settings
) -> None:
    package = b"PK\x03\x04" + bytes(range(256)) * 100
    encrypted = encrypt_for(package, partner.armored, org)
    assert package not in encrypted
    opened = gpg(partner.home, "--decrypt", data=encrypted)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == package
    # Partner keys never enter the organisation's keyring.
    ensure_org_key(org)
    listing = gpg(org.gnupg_dir, "--with-colons", "--list-keys").stdout.decode()
    assert partner.fingerprint not in listing
    with pytest.raises(ValueError, match="not an OpenPGP public key"):
        encrypt_for(package, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP", org)


def test_every_byte_of_a_signature_file_counts(org: Settings) -> None:
    """Flip each byte of SHA256SUMS.asc (but the final line break): verification fails every
    time, be it the armor (gpg itself forgives a damaged END line; verify does not) or the
    signature inside."""
    from queues.liaison.evidence.verify import armor_problem

    ensure_org_key(org)
    data = b"0123abcd  raw/001.eml\n"
    signature, armored = sign_detached(data, org), public_key(org)
    assert armor_problem(signature) is None
    for position in range(len(signature) - 1):
        changed = bytearray(signature)
        changed[position] ^= 0x01
        if armor_problem(bytes(changed)) is not None:
            continue
        with pytest.raises(ValueError):
            verify_detached(bytes(changed), data, armored)


def _armor_lines(signature: bytes) -> list[str]:
    return signature.decode("ascii").split("\n")


def test_unused_base64_bits_and_the_checksum_count(org: Settings) -> None:
    """Base64 leaves the low bits of the character before '=' unused (gpg decodes the same
    signature either way): such a change is found (RFC 4648 section 3.5), and so is a wrong
    armor checksum (RFC 4880 section 6.1; gpg refuses it too, verify says why)."""
    from queues.liaison.evidence.verify import armor_problem

    ensure_org_key(org)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for n in range(3):  # signatures of different data end in different characters
        signature = sign_detached(f"0123abcd  raw/00{n}.eml\n".encode(), org)
        lines = _armor_lines(signature)
        last = max(i for i, line in enumerate(lines) if line.endswith("="))
        if lines[last].startswith("="):  # the checksum line: the data line is before it
            last -= 1
        data_line = lines[last]
        if not data_line.endswith("="):
            continue  # no padding in this one: no unused bits
        cut = data_line.rstrip("=")
        value = alphabet.index(cut[-1])
        changed = lines.copy()
        changed[last] = cut[:-1] + alphabet[value ^ 1] + data_line[len(cut) :]
        problem = armor_problem("\n".join(changed).encode("ascii"))
        assert problem is not None and "canonical" in problem
    checksum = next(i for i, line in enumerate(lines) if len(line) == 5 and line[0] == "=")
    wrong = lines.copy()
    wrong[checksum] = "=AAAA" if lines[checksum] != "=AAAA" else "=AAAB"
    problem = armor_problem("\n".join(wrong).encode("ascii"))
    assert problem is not None and "checksum" in problem
    assert armor_problem(signature) is None

"""OpenSSL verifies dkimpy's RSA signatures (mailgate.senderauth.rsa): the same answer as
dkimpy's own arithmetic for every signature, valid, tampered, of the wrong length or out of
range, under keys OpenSSL loads and keys it refuses; and the checks use it."""

from __future__ import annotations

import hashlib
from typing import Any

import dkim
import dkim.crypto
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailgate.senderauth.check  # noqa: F401  (importing the checks installs the verifier)
from mailgate.senderauth.rsa import verify

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = {bits: rsa.generate_private_key(65537, bits) for bits in (1024, 2048)}


def _digest(data: bytes, name: str = "sha256") -> Any:
    through = dkim.HashThrough(hashlib.new(name))
    through.update(data)
    return through


def _public(key: rsa.RSAPrivateKey) -> dict[str, int]:
    numbers = key.public_key().public_numbers()
    return {"modulus": numbers.n, "publicExponent": numbers.e}


def _sign(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    digest = hashlib.sha256(data).digest()
    return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def _both(digest: Any, signature: bytes, public: dict[str, int]) -> tuple[bool, bool]:
    ours = verify(digest, signature, public)
    theirs = bool(dkim.crypto.RSASSA_PKCS1_v1_5_verify(digest, signature, public))
    return ours, theirs


def test_the_checks_install_it_in_dkimpys_verifier() -> None:
    assert dkim.RSASSA_PKCS1_v1_5_verify is verify


@PROPERTY
@given(data=st.binary(max_size=300), bits=st.sampled_from(sorted(KEYS)))
def test_a_valid_signature_verifies_as_dkimpy_says(data: bytes, bits: int) -> None:
    key = KEYS[bits]
    assert _both(_digest(data), _sign(key, data), _public(key)) == (True, True)


@PROPERTY
@given(
    data=st.binary(max_size=300),
    bits=st.sampled_from(sorted(KEYS)),
    flip=st.integers(min_value=0),
    other=st.binary(min_size=1, max_size=20),
)
def test_a_tampered_signature_or_digest_fails_as_dkimpy_says(
    data: bytes, bits: int, flip: int, other: bytes
) -> None:
    key = KEYS[bits]
    signature = bytearray(_sign(key, data))
    bit = flip % (len(signature) * 8)
    signature[bit // 8] ^= 1 << (bit % 8)
    assert _both(_digest(data), bytes(signature), _public(key)) == (False, False)
    assert _both(_digest(data + other), _sign(key, data), _public(key)) == (False, False)


@pytest.mark.parametrize("bits", sorted(KEYS))
def test_signatures_of_another_length_or_out_of_range_get_dkimpys_answer(bits: int) -> None:
    key, data = KEYS[bits], b"a message"
    public, signature = _public(key), _sign(key, data)
    value = int.from_bytes(signature, "big")
    length = len(signature)
    odd = {
        "a leading zero byte more": b"\x00" + signature,
        "plus the modulus": (value + public["modulus"]).to_bytes(length + 1, "big"),
        "too short": signature[1:],
        "empty": b"",
        "all ones": b"\xff" * length,
    }
    for why, candidate in odd.items():
        ours, theirs = _both(_digest(data), candidate, public)
        assert ours == theirs, why
    # dkimpy's arithmetic takes these two as valid, so the answer stays valid.
    assert _both(_digest(data), odd["a leading zero byte more"], public) == (True, True)
    assert _both(_digest(data), odd["plus the modulus"], public) == (True, True)


def test_a_key_openssl_refuses_and_sha1_get_dkimpys_answer() -> None:
    key, data = KEYS[1024], b"a message"
    public = _public(key)
    even = {"modulus": public["modulus"] + 1, "publicExponent": public["publicExponent"]}
    ours, theirs = _both(_digest(data), _sign(key, data), even)
    assert ours == theirs is False
    sha1 = key.sign(hashlib.sha1(data).digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
    assert _both(_digest(data, "sha1"), sha1, public) == (True, True)


def test_key_records_are_parsed_once_with_dkimpys_result() -> None:
    from cryptography.hazmat.primitives import serialization

    from mailgate.senderauth import rsa as ours

    assert dkim.parse_public_key is ours.parse_public_key
    der = (
        KEYS[2048]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    first = ours.parse_public_key(der)
    assert first == dkim.crypto.parse_public_key(der) == _public(KEYS[2048])
    assert ours.parse_public_key(der) is first  # from the cache
    for _ in range(2):  # an unparsable key: dkimpy's error, every time
        with pytest.raises(dkim.UnparsableKeyError):
            ours.parse_public_key(b"\x30\x03not a key")

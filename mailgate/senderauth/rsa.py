"""RSA signature verification for dkimpy, done by OpenSSL (through `cryptography`).

dkimpy verifies an RSA signature with its own pure-Python arithmetic: it turns the 2048-bit
modulus into bytes twice, a byte at a time, and raises the signature to the public exponent
with Python's `pow`. That was about a quarter of the sender checks' time for a small
message (0.44 ms of 1.9 ms on the benchmark machine; bench/README.md, "Sender checks at the
gateway"); OpenSSL does the same verification in 0.04 ms. `cryptography` is already a
dependency (evidence packages, two-factor secrets).

`install()` puts `verify` in the place where dkimpy's verifier looks the function up
(`dkim.RSASSA_PKCS1_v1_5_verify`, a name dkimpy imports from `dkim.crypto`); signing is
untouched. The verdict is dkimpy's own in every case: whatever OpenSSL would judge
differently from dkimpy's arithmetic (a signature that is not exactly the modulus' length,
or not below the modulus, RFC 8017 5.2.2; a key OpenSSL will not load) is handed to dkimpy's
function, which then decides as it always did.

Keys are parsed once: a help desk hears from the same few domains again and again, and
dkimpy parsed the key record's ASN.1 in Python, and we built OpenSSL's key, for every
message. Both are pure functions of the key's bytes and numbers, so they are cached
(`KEYS_CACHED` of each); the DNS answer itself is still looked up for every message.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

import dkim
import dkim.crypto
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

# rsa-sha256, the one algorithm RFC 8301 3.1 lets a verifier accept; whatever dkimpy does
# with any other (rsa-sha1) it goes on doing, through its own function.
_ALGORITHMS: dict[str, hashes.HashAlgorithm] = {"sha256": hashes.SHA256()}
KEYS_CACHED = 1024
_dkimpy_parse_public_key = dkim.crypto.parse_public_key


class _Digest(Protocol):
    """What dkimpy hands over: its HashThrough, a hash already fed the signed data."""

    name: str

    def digest(self) -> bytes: ...


def verify(digest: _Digest, signature: bytes, public_key: dict[str, Any]) -> bool:
    """Whether `signature` is the RSASSA-PKCS1-v1_5 signature (RFC 8017 8.2.2) of the hash
    in `digest` under `public_key` (dkimpy's dict: "modulus", "publicExponent")."""
    modulus: int = public_key["modulus"]
    algorithm = _ALGORITHMS.get(digest.name.lower())
    length = (modulus.bit_length() + 7) // 8
    key = _public_key(modulus, public_key["publicExponent"])
    if (
        key is None
        or algorithm is None
        or len(signature) != length
        or int.from_bytes(signature, "big") >= modulus
    ):
        return bool(dkim.crypto.RSASSA_PKCS1_v1_5_verify(digest, signature, public_key))
    try:
        key.verify(signature, digest.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm))
    except InvalidSignature:
        return False
    return True


@lru_cache(maxsize=KEYS_CACHED)
def _public_key(modulus: int, exponent: int) -> RSAPublicKey | None:
    try:
        return RSAPublicNumbers(exponent, modulus).public_key()
    except (ValueError, TypeError):  # e.g. an even modulus or exponent: dkimpy decides
        return None


@lru_cache(maxsize=KEYS_CACHED)
def parse_public_key(data: bytes) -> dict[str, int]:
    """dkimpy's `parse_public_key` (the key record's DER), once per key. dkimpy only reads
    the dict it returns; an error is raised again each time (errors are not cached)."""
    parsed: dict[str, int] = _dkimpy_parse_public_key(data)
    return parsed


def install() -> None:
    """dkimpy's verifier uses `verify` and the cached key parser from now on, in this
    process."""
    dkim.RSASSA_PKCS1_v1_5_verify = verify
    dkim.parse_public_key = parse_public_key

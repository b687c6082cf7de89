"""RFC 3161 timestamps over SHA256SUMS: ask a timestamp authority, and check its reply.

The request and the reply are built and read with asn1crypto (pure Python, no C build, the
ASN.1 layer of several signing tools): the request carries a fresh nonce and asks for the
authority's certificate (RFC 3161 section 2.4.1), so the reply can be checked here without
temporary files or a second program, and each failure gets a precise reason. The token's
CMS signature (RFC 5652 section 5.4) is checked with `cryptography` against the signer
certificate carried in the token, including the ESS signing-certificate attribute that
binds that certificate to the signature (RFC 5035), so a changed byte anywhere in the token
is caught. Whether that certificate chains to an authority one trusts is a separate question
answered by `openssl ts -verify -CAfile` (`check_chain`), which is also what partners run.

A package stores the authority's whole reply (TimeStampResp, DER) as SHA256SUMS.tsr, the
form `openssl ts -reply` writes and `openssl ts -verify -in` reads.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import algos, tsp
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from queues.settings import Settings

MAX_REPLY_BYTES = 1024 * 1024
# Digests accepted for the imprint and for the authority's signature; SHA-1 is not.
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class TimestampError(ValueError):
    """A timestamp could not be had, or a reply does not prove what it should; says why."""


@dataclass(frozen=True)
class TimestampInfo:
    """What a checked token says: when, by whom, under which serial number."""

    gen_time: datetime
    authority: str
    serial_number: int
    hash_algorithm: str


def make_request(data: bytes, nonce: int) -> bytes:
    """A DER TimeStampReq for the SHA-256 of `data` (RFC 3161 section 2.4.1)."""
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(data).digest(),
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return bytes(request.dump())


def request_timestamp(data: bytes, settings: Settings) -> bytes:
    """Ask the configured authority for a timestamp over `data`; its checked reply (DER).

    TimestampError when the authority cannot be reached, refuses, or answers with a token
    that is not over `data`, repeats another nonce or fails its signature check.
    """
    url = settings.timestamp_url
    if not url.lower().startswith(("http://", "https://")):
        raise TimestampError(f"timestamp_url must be an http or https URL, not {url[:60]!r}")
    nonce = secrets.randbits(63)
    query = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=make_request(data, nonce),
        headers={
            "Content-Type": "application/timestamp-query",
            "Accept": "application/timestamp-reply",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(  # noqa: S310 (scheme checked above)
            query, timeout=settings.timestamp_timeout_seconds
        ) as response:
            reply = bytes(response.read(MAX_REPLY_BYTES + 1))
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"the timestamp authority answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TimestampError(f"cannot reach the timestamp authority: {reason}") from exc
    if len(reply) > MAX_REPLY_BYTES:
        raise TimestampError("the timestamp authority's reply is too large")
    check_reply(reply, data, nonce=nonce)
    return reply


def check_reply(reply: bytes, data: bytes, *, nonce: int | None = None) -> TimestampInfo:
    """Check that `reply` (a DER TimeStampResp) is a granted, well-signed token over `data`."""
    try:
        response = tsp.TimeStampResp.load(reply, strict=True)
        status = response["status"]["status"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"not an RFC 3161 timestamp reply ({exc})") from exc
    if status not in ("granted", "granted_with_mods"):
        text = response["status"]["status_string"].native or []
        raise TimestampError(f"the authority did not grant a timestamp: {status} {text}")
    try:
        token = response["time_stamp_token"]
        if token["content_type"].native != "signed_data":
            raise TimestampError("the timestamp token is not CMS signed data")
        signed = token["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise TimestampError("the timestamp token does not hold a TSTInfo")
        tst_bytes = bytes(encap["content"].contents)
        tst = tsp.TSTInfo.load(tst_bytes, strict=True)
        info = _check_imprint(tst, data, nonce)
        _check_signature(signed, tst_bytes)
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TimestampError(f"the timestamp token cannot be read ({exc})") from exc
    return info


def _check_imprint(tst: Any, data: bytes, nonce: int | None) -> TimestampInfo:
    imprint = tst["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        raise TimestampError(f"the timestamp is over a {algorithm} hash, which is not accepted")
    if bytes(imprint["hashed_message"].native) != hashlib.new(algorithm, data).digest():
        raise TimestampError("the timestamp is not over this SHA256SUMS (its hash differs)")
    if nonce is not None and tst["nonce"].native != nonce:
        raise TimestampError("the timestamp reply answers another request (nonce differs)")
    authority = tst["tsa"]
    return TimestampInfo(
        gen_time=tst["gen_time"].native,
        authority=_name(authority),
        serial_number=int(tst["serial_number"].native),
        hash_algorithm=algorithm,
    )


def _name(general_name: Any) -> str:
    """The authority's name as a person reads it ("Common Name: Example TSA")."""
    if general_name.native is None:
        return ""
    if general_name.name == "directory_name":
        return str(general_name.chosen.human_friendly)
    return str(general_name.native)


def _signer_certificate(signed: Any, sid: Any) -> Any:
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                cert.issuer == wanted["issuer"]
                and cert.serial_number == wanted["serial_number"].native
            ):
                return cert
        elif sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
            return cert
    raise TimestampError("the timestamp token does not carry its signer's certificate")


def _attribute(attrs: Any, name: str) -> Any:
    for attr in attrs:
        if attr["type"].native == name:
            return attr["values"][0]
    return None


def _check_signature(signed: Any, tst_bytes: bytes) -> None:
    infos = signed["signer_infos"]
    if len(infos) != 1:
        raise TimestampError("the timestamp token must have exactly one signer")
    signer = infos[0]
    digest_name = signer["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise TimestampError(f"the timestamp is signed with {digest_name}, which is not accepted")
    _check_structure(signed, signer, digest_name)
    attrs = signer["signed_attrs"]
    if not attrs:
        raise TimestampError("the timestamp token has no signed attributes")
    content_type = _attribute(attrs, "content_type")
    if content_type is None or content_type.native != "tst_info":
        raise TimestampError("the timestamp token's signed content type is not TSTInfo")
    message_digest = _attribute(attrs, "message_digest")
    if (
        message_digest is None
        or bytes(message_digest.native) != hashlib.new(digest_name, tst_bytes).digest()
    ):
        raise TimestampError("the timestamp token's content does not match its signature")
    cert = _signer_certificate(signed, signer["sid"])
    _check_ess(attrs, cert)
    _check_time_stamping_usage(cert)
    # The signature is over the DER of the attributes as a SET OF (RFC 5652 section 5.4),
    # not over their [0] IMPLICIT encoding in the SignerInfo.
    to_verify = b"\x31" + bytes(attrs.dump())[1:]
    _verify(cert, signer["signature_algorithm"], digest_name, bytes(signer["signature"].native),
            to_verify)  # fmt: skip


def _check_structure(signed: Any, signer: Any, digest_name: str) -> None:
    """The unsigned framing must agree with what is signed, so that no byte of a token can
    change unnoticed: versions (RFC 5652 sections 5.1 and 5.3), the digest algorithms, and
    the hash named by the signature algorithm."""
    if signed["version"].native != "v3":
        raise TimestampError("the timestamp token's SignedData version is not 3")
    wanted = "v1" if signer["sid"].name == "issuer_and_serial_number" else "v3"
    if signer["version"].native != wanted:
        raise TimestampError("the timestamp token's SignerInfo version does not fit its signer")
    for algorithm in [*signed["digest_algorithms"], signer["digest_algorithm"]]:
        if algorithm["algorithm"].native not in _HASHES or algorithm["parameters"].native:
            raise TimestampError("the timestamp token names a digest algorithm it cannot use")
    if digest_name not in {a["algorithm"].native for a in signed["digest_algorithms"]}:
        raise TimestampError("the timestamp token's digest algorithms omit the signer's")
    signature_algorithm = signer["signature_algorithm"]
    name = signature_algorithm["algorithm"].native
    if "_" in name and name.split("_")[0] in _HASHES and name.split("_")[0] != digest_name:
        raise TimestampError("the timestamp's signature algorithm names another hash")
    if name != "rsassa_pss" and signature_algorithm["parameters"].native is not None:
        raise TimestampError("the timestamp's signature algorithm has unexpected parameters")


def _check_ess(attrs: Any, cert: Any) -> None:
    """The signing-certificate attribute must name the certificate that verifies (RFC 5035)."""
    der = bytes(cert.dump())
    v2 = _attribute(attrs, "signing_certificate_v2")
    if v2 is not None:
        first = v2["certs"][0]
        algorithm = first["hash_algorithm"]["algorithm"].native
        if (
            algorithm not in _HASHES
            or bytes(first["cert_hash"].native) != hashlib.new(algorithm, der).digest()
        ):
            raise TimestampError("the timestamp token names another signer certificate")
        return
    v1 = _attribute(attrs, "signing_certificate")
    if v1 is None:
        raise TimestampError("the timestamp token does not name its signer certificate (ESS)")
    if bytes(v1["certs"][0]["cert_hash"].native) != hashlib.sha1(der).digest():  # noqa: S324 (ESSCertID is SHA-1 by definition, RFC 2634)
        raise TimestampError("the timestamp token names another signer certificate")


def _check_time_stamping_usage(cert: Any) -> None:
    # RFC 3161 section 2.3: the TSA's certificate has exactly one extended key usage,
    # timeStamping, and the extension is critical.
    for extension in cert["tbs_certificate"]["extensions"] or []:
        if extension["extn_id"].native == "extended_key_usage":
            if not extension["critical"].native:
                raise TimestampError("the TSA certificate's extended key usage is not critical")
            if extension["extn_value"].parsed.native != ["time_stamping"]:
                raise TimestampError("the TSA certificate is not for time stamping only")
            return
    raise TimestampError("the TSA certificate has no extended key usage for time stamping")


def _verify(
    cert: Any, algorithm: algos.SignedDigestAlgorithm, digest_name: str, sig: bytes, data: bytes
) -> None:
    public = cx509.load_der_x509_certificate(bytes(cert.dump())).public_key()
    digest = _HASHES[digest_name]()
    kind = algorithm.signature_algo
    try:
        if isinstance(public, rsa.RSAPublicKey) and kind == "rsassa_pkcs1v15":
            public.verify(sig, data, padding.PKCS1v15(), digest)
        elif isinstance(public, rsa.RSAPublicKey) and kind == "rsassa_pss":
            params = algorithm["parameters"]
            mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
            pss_digest = _HASHES[params["hash_algorithm"]["algorithm"].native]()
            salt = int(params["salt_length"].native)
            public.verify(sig, data, padding.PSS(padding.MGF1(_HASHES[mgf_hash]()), salt),
                          pss_digest)  # fmt: skip
        elif isinstance(public, ec.EllipticCurvePublicKey) and kind == "ecdsa":
            public.verify(sig, data, ec.ECDSA(digest))
        elif isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            public.verify(sig, data)
        else:
            raise TimestampError(f"unsupported timestamp signature algorithm {kind}")
    except InvalidSignature as exc:
        raise TimestampError("the timestamp token's signature does not verify") from exc
    except (KeyError, ValueError) as exc:
        raise TimestampError(f"the timestamp signature cannot be checked ({exc})") from exc


def check_chain(reply: bytes, data: bytes, ca_file: str) -> str | None:
    """Run `openssl ts -verify` with `ca_file` as the trusted roots; None when it passes,
    else openssl's reason. This is the check partners run; it adds trust in the authority
    (the chain, validity dates) to what `check_reply` proves."""
    if not Path(ca_file).is_file():
        return f"the timestamp CA file {ca_file} does not exist"
    with tempfile.TemporaryDirectory(prefix="sb-ts-") as tmp:
        reply_path, data_path = Path(tmp) / "reply.tsr", Path(tmp) / "data"
        reply_path.write_bytes(reply)
        data_path.write_bytes(data)
        try:
            # openssl from PATH, like gpg: Debian's, the program partners run themselves.
            command = ["openssl", "ts", "-verify", "-data", str(data_path)]
            command += ["-in", str(reply_path), "-CAfile", ca_file]
            done = subprocess.run(  # noqa: S603 (fixed program, our own arguments)
                command, capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"cannot run openssl ts -verify: {exc}"
    if done.returncode == 0 and "Verification: OK" in done.stdout:
        return None
    lines = [x for x in (done.stderr + done.stdout).splitlines() if x.strip()]
    return "openssl ts -verify failed: " + (lines[-1] if lines else f"exit {done.returncode}")

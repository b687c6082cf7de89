"""Verify an evidence package: every hash, the signature, any timestamp; nothing added.

The checks a partner makes with coreutils, gpg and openssl, made in one place, with every
failure listed rather than the first one only:

- it is a zip with manifest.json (else it is "not a package");
- no member name is unsafe or appears twice;
- every file SHA256SUMS lists exists and matches; no file is missing from it (only
  SHA256SUMS itself, its signature and its timestamp stand outside);
- manifest.json lists the same files with the same hashes and sizes, and each raw message
  still has the SHA-256 recorded when it was received;
- SHA256SUMS.asc is a good signature of SHA256SUMS by the organisation's key (or the key
  the caller trusts);
- SHA256SUMS.tsr, when present (and it must be when the manifest names an authority), is a
  granted RFC 3161 token over SHA256SUMS with a valid signature; with a CA file, its chain
  is checked too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queues.liaison.evidence import manifest as mf
from queues.liaison.evidence.keys import KeyringError, public_key, verify_detached
from queues.liaison.evidence.timestamp import TimestampError, check_chain, check_reply
from queues.settings import Settings

MAX_SMALL_FILE = 64 * 1024 * 1024  # manifest, SHA256SUMS, signature, timestamp


@dataclass
class VerifyResult:
    """ok: every check passed. problems: what failed, one line each. not_a_package: the
    input is not a zip or has no manifest.json (nothing else was checked). details: what
    was checked and found good (the signer, the timestamp)."""

    ok: bool
    problems: list[str]
    not_a_package: bool = False
    details: list[str] = field(default_factory=list)


def verify_package(
    source: bytes | str | os.PathLike[str],
    *,
    public_key_text: str | None = None,
    settings: Settings | None = None,
    tsa_ca_file: str | None = None,
) -> VerifyResult:
    """Check the package at `source` (a path, or the zip's bytes).

    The signature must be by the key in `public_key_text` when given, else by the
    organisation's key in `settings`' keyring. `tsa_ca_file` (default: the
    timestamp_ca_file setting) adds a chain check of the timestamp with openssl.
    """
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        where = "the package" if isinstance(source, bytes) else os.fsdecode(source)
        return VerifyResult(False, [f"cannot read {where}: {exc.strerror}"], not_a_package=True)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError):
        return VerifyResult(False, ["not a zip file"], not_a_package=True)
    with archive:
        return _Check(archive, public_key_text, settings, tsa_ca_file).run()


_ARMOR_BEGIN = "-----BEGIN PGP SIGNATURE-----"
_ARMOR_END = "-----END PGP SIGNATURE-----"
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]+=*$")
_CHECKSUM_LINE = re.compile(r"^=[A-Za-z0-9+/]{4}$")


def armor_problem(signature: bytes) -> str | None:
    """None when `signature` is exactly one ASCII-armored OpenPGP signature (RFC 4880
    section 6.2), else what is wrong. gpg forgives damaged armor lines, and base64 leaves
    the last character's low bits unused; a package's signature file must not change
    unnoticed, so its framing, its canonical base64 (RFC 4648 section 3.5) and its
    checksum (RFC 4880 section 6.1) are checked here."""
    try:
        lines = signature.decode("ascii").split("\n")
    except UnicodeDecodeError:
        return "not ASCII armor"
    lines = [line.removesuffix("\r") for line in lines]
    while lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 4 or lines[0] != _ARMOR_BEGIN or lines[-1] != _ARMOR_END:
        return "not one ASCII-armored OpenPGP signature"
    body = lines[1:-1]
    while body and body[0] != "":  # armor headers ("Version: ..."), then a blank line
        if ": " not in body[0]:
            return "malformed armor header"
        body = body[1:]
    body = body[1:]
    if not body or not all(_BASE64_LINE.match(line) for line in body[:-1]):
        return "malformed armor"
    checksum = body[-1] if _CHECKSUM_LINE.match(body[-1]) else None
    if checksum is None and not _BASE64_LINE.match(body[-1]):
        return "malformed armor checksum"
    return _armor_data_problem("".join(body[:-1] if checksum else body), checksum)


def _armor_data_problem(encoded: str, checksum: str | None) -> str | None:
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return "malformed armor"
    if base64.b64encode(data).decode("ascii") != encoded:
        return "armor is not canonical base64 (RFC 4648 section 3.5)"
    if checksum is not None:
        expected = "=" + base64.b64encode(_crc24(data).to_bytes(3, "big")).decode("ascii")
        if checksum != expected:
            return "armor checksum does not match (RFC 4880 section 6.1)"
    return None


def _crc24(data: bytes) -> int:
    """The armor checksum of RFC 4880 section 6.1."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


class _Check:
    def __init__(
        self,
        archive: zipfile.ZipFile,
        key: str | None,
        settings: Settings | None,
        tsa_ca_file: str | None,
    ) -> None:
        self.archive = archive
        self.key = key
        self.settings = settings
        self.tsa_ca_file = tsa_ca_file or (settings.timestamp_ca_file if settings else "") or None
        self.problems: list[str] = []
        self.details: list[str] = []
        self.members: dict[str, zipfile.ZipInfo] = {}
        self.digests: dict[str, str] = {}
        self.sizes: dict[str, int] = {}

    def run(self) -> VerifyResult:
        self._members()
        if mf.MANIFEST not in self.members:
            return VerifyResult(
                False, ["no manifest.json: not an evidence package"], not_a_package=True
            )
        self._hash_members()
        sums = self._small(mf.SUMS)
        if sums is None:
            self.problems.append(f"{mf.SUMS} is missing")
        else:
            self._check_sums(sums)
        manifest = self._manifest()
        if manifest is not None:
            self._check_manifest(manifest)
        if sums is not None:
            self._check_signature(sums)
            self._check_timestamp(sums, manifest)
        return VerifyResult(not self.problems, self.problems, False, self.details)

    def _members(self) -> None:
        for info in self.archive.infolist():
            if info.is_dir():
                continue  # a partner's re-zip may add folder entries; they hold nothing
            try:
                mf.check_path(info.filename)
            except ValueError:
                self.problems.append(f"unsafe file name in the zip: {info.filename!r}")
                continue
            if info.filename in self.members:
                self.problems.append(f"{info.filename} appears twice in the zip")
                continue
            self.members[info.filename] = info

    def _hash_members(self) -> None:
        for name, info in self.members.items():
            digest, size = hashlib.sha256(), 0
            try:
                with self.archive.open(info) as member:
                    while chunk := member.read(1024 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
                self.problems.append(f"{name} is damaged in the zip ({exc})")
                continue
            self.digests[name] = digest.hexdigest()
            self.sizes[name] = size

    def _small(self, name: str) -> bytes | None:
        info = self.members.get(name)
        if info is None or name not in self.digests:
            return None
        if info.file_size > MAX_SMALL_FILE:
            self.problems.append(f"{name} is implausibly large")
            return None
        return self.archive.read(info)

    def _check_sums(self, sums: bytes) -> None:
        parsed = mf.parse_sums(sums)
        self.problems.extend(parsed.problems)
        for path, digest in parsed.digests.items():
            if path in mf.OUTSIDE_SUMS:
                self.problems.append(f"{mf.SUMS} lists {path}, which cannot be inside it")
            elif path not in self.members:
                self.problems.append(f"{path} is listed in {mf.SUMS} but missing")
            elif path in self.digests and self.digests[path] != digest:
                self.problems.append(f"{path} does not match its SHA-256 in {mf.SUMS}")
        for path in self.members:
            if path not in mf.OUTSIDE_SUMS and path not in parsed.digests:
                self.problems.append(f"{path} is not listed in {mf.SUMS}")

    def _manifest(self) -> dict[str, Any] | None:
        raw = self._small(mf.MANIFEST)
        if raw is None:
            return None
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.problems.append(f"manifest.json is not valid JSON ({exc})")
            return None
        if not isinstance(manifest, dict) or manifest.get("format") != mf.FORMAT:
            self.problems.append("manifest.json is not a Switchboard evidence manifest")
            return None
        return manifest

    def _check_manifest(self, manifest: dict[str, Any]) -> None:
        listed: dict[str, dict[str, Any]] = {}
        for entry in manifest.get("files") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                self.problems.append("manifest.json has a malformed file entry")
                continue
            listed[entry["path"]] = entry
        for path, entry in listed.items():
            if path not in self.members:
                self.problems.append(f"{path} is listed in manifest.json but missing")
            elif path in self.digests and (
                entry.get("sha256") != self.digests[path] or entry.get("size") != self.sizes[path]
            ):
                self.problems.append(f"{path} does not match its SHA-256 or size in manifest.json")
        for path in self.members:
            if path not in listed and path != mf.MANIFEST and path not in mf.OUTSIDE_SUMS:
                self.problems.append(f"{path} is not listed in manifest.json")
        for message in manifest.get("messages") or []:
            if not isinstance(message, dict):
                continue
            raw, recorded = message.get("raw"), message.get("raw_sha256_recorded_at_acceptance")
            if isinstance(raw, str) and recorded and self.digests.get(raw) not in (None, recorded):
                self.problems.append(
                    f"{raw} differs from the SHA-256 recorded when the message was received"
                )

    def _trusted_key(self) -> str | None:
        if self.key is not None:
            return self.key
        if self.settings is None:
            self.problems.append("no key to check the signature against (give one)")
            return None
        try:
            return public_key(self.settings)
        except KeyringError as exc:
            self.problems.append(f"no organisation key to check the signature against: {exc}")
            return None

    def _check_signature(self, sums: bytes) -> None:
        signature = self._small(mf.SIGNATURE)
        if signature is None:
            self.problems.append(f"{mf.SIGNATURE} (the signature) is missing")
            return
        framing = armor_problem(signature)
        if framing is not None:
            self.problems.append(f"{mf.SIGNATURE}: {framing}")
            return
        key = self._trusted_key()
        if key is None:
            return
        try:
            signer = verify_detached(signature, sums, key, self.settings)
        except ValueError as exc:
            self.problems.append(f"{mf.SIGNATURE}: {exc}")
            return
        self.details.append(f"{mf.SUMS} is signed by OpenPGP key {signer}")

    def _check_timestamp(self, sums: bytes, manifest: dict[str, Any] | None) -> None:
        token = self._small(mf.TIMESTAMP)
        if token is None:
            if manifest is not None and manifest.get("timestamp_authority"):
                self.problems.append(
                    f"{mf.TIMESTAMP} is missing, but the manifest names a timestamp authority"
                )
            return
        try:
            info = check_reply(token, sums)
        except TimestampError as exc:
            self.problems.append(f"{mf.TIMESTAMP}: {exc}")
            return
        by = f" by {info.authority}" if info.authority else ""
        self.details.append(
            f"{mf.SUMS} was timestamped at {info.gen_time.isoformat()}{by} "
            f"(serial {info.serial_number})"
        )
        if self.tsa_ca_file:
            failure = check_chain(token, sums, self.tsa_ca_file)
            if failure is not None:
                self.problems.append(f"{mf.TIMESTAMP}: {failure}")
            else:
                self.details.append(f"the timestamp authority chains to {self.tsa_ca_file}")

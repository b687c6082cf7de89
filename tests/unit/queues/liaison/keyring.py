"""A partner force's test key and the gpg a partner would use: Debian's /usr/bin/gpg in a
temporary GNUPGHOME of its own (outside our code), for the liaison tests of every layer.

The organisation's signing key lives in another short temporary directory (gpg's agent
socket must fit in a Unix socket path), made once per test session.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

GPG = "/usr/bin/gpg"
PARTNER_UID = "Test Police Cybercrime <referrals@police.example>"


@dataclass(frozen=True)
class PartnerKey:
    home: Path
    armored: str
    fingerprint: str


def _gpg(home: Path, *args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--yes", *args],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def short_tempdir(prefix: str) -> Path:
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    home.chmod(0o700)
    return home


def make_partner_key() -> PartnerKey:
    """A fresh ed25519/cv25519 key pair, as a partner force would have (no passphrase)."""
    home = short_tempdir("sb-partner-")
    _gpg(home, "--passphrase", "", "--quick-gen-key", PARTNER_UID, "future-default", "default")
    armored = _gpg(home, "--armor", "--export", "referrals@police.example").decode()
    listing = _gpg(home, "--with-colons", "--list-keys").decode()
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:")
    return PartnerKey(home, armored, fingerprint)


def decrypt(key: PartnerKey, data: bytes) -> bytes:
    """What the partner reads: the package decrypted with their own key."""
    return _gpg(key.home, "--decrypt", data=data)


def stop(home: Path) -> None:
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False
    )
    shutil.rmtree(home, ignore_errors=True)


def check_outside(package: bytes, org_public_key: str, workdir: Path) -> dict[str, bytes]:
    """Unpack the zip and check it as a partner would, with coreutils and gpg alone:
    `sha256sum -c SHA256SUMS` and `gpg --verify SHA256SUMS.asc SHA256SUMS` (the
    organisation's public key imported into a keyring of the partner's). The files by name."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        archive.extractall(workdir)
        names = archive.namelist()
    subprocess.run(
        ["sha256sum", "--strict", "-c", "SHA256SUMS"],
        cwd=workdir,
        check=True,
        capture_output=True,
        timeout=60,
    )
    home = short_tempdir("sb-verify-")
    try:
        _gpg(home, "--import", data=org_public_key.encode())
        _gpg(home, "--verify", str(workdir / "SHA256SUMS.asc"), str(workdir / "SHA256SUMS"))
    finally:
        stop(home)
    return {name: (workdir / name).read_bytes() for name in names if not name.endswith("/")}

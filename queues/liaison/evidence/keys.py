"""The organisation's OpenPGP key, and partners' keys: python-gnupg over Debian's gpg.

The signing key lives in the installation's own keyring (`Settings.gnupg_dir`, by default
var_dir/gnupg); `switchboard init` creates it when none is configured, so every evidence
package can be signed. It is an Ed25519 signing-only key without a passphrase: the keyring
directory is the secret (mode 0700, owned by the service account), as for an SSH host key.

Partners' public keys never enter that keyring: each check or encryption imports the key
into a throwaway keyring that is removed afterwards, so a partner key can neither be
mistaken for ours nor pile up.

gpg needs its agent for anything touching a secret key. It starts by itself and keeps
running, as it does for any gpg user; stopping it after each operation would race with the
next one (a new gpg finds the old agent's socket while it shuts down). Short commands call
`stop_agent` once they are done with the keyring, so no agent outlives them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import gnupg

from queues.settings import Settings

# gpg's agent listens on sockets inside the keyring directory; a Unix socket path has at
# most 107 bytes, and the longest name gpg uses there is "S.gpg-agent.browser".
MAX_HOME_LENGTH = 107 - len("/S.gpg-agent.browser")
MAX_KEY_TEXT = 1024 * 1024
_lock = threading.Lock()  # one key generation at a time per process


class KeyringError(RuntimeError):
    """gpg could not do what was asked with the organisation's keyring; the message says why."""


def _check_home(home: Path) -> None:
    if len(str(home.resolve())) > MAX_HOME_LENGTH:
        raise KeyringError(
            f"the keyring path {home} is too long for gpg's agent socket "
            f"(at most {MAX_HOME_LENGTH} characters): set gnupg_home to a shorter path"
        )


def _gpg(home: Path, settings: Settings) -> Any:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)  # gpg warns about (and some versions refuse) a readable keyring
    return _gpg_for(str(home.resolve()), settings.gpg_binary)


@lru_cache(maxsize=16)
def _gpg_for(home: str, binary: str) -> Any:
    # One wrapper per keyring: making one runs `gpg --version`, each call runs gpg itself.
    try:
        return gnupg.GPG(gnupghome=home, gpgbinary=binary)
    except (OSError, ValueError) as exc:
        raise KeyringError(f"cannot run gpg ({binary}): {exc}") from exc


def stop_agent(settings: Settings) -> None:
    """Stop gpg's agent for the organisation's keyring (a command that is done with it)."""
    _stop_agent(settings.gnupg_dir, settings)


@contextmanager
def agent_of_this_command(settings: Settings) -> Iterator[None]:
    """For short commands: stop gpg's agent afterwards if this command started it. An agent
    that was already running belongs to a service (web, work) and is left alone."""
    running = _agent_socket(settings).exists()
    try:
        yield
    finally:
        if not running:
            stop_agent(settings)


def _gpgconf(settings: Settings) -> str:
    gpgconf = Path(settings.gpg_binary).with_name("gpgconf")
    return str(gpgconf) if gpgconf.is_absolute() else "gpgconf"


def _agent_socket(settings: Settings) -> Path:
    """Where gpg's agent for the keyring listens (in it, or under /run/user/UID/gnupg)."""
    home = settings.gnupg_dir
    try:
        done = subprocess.run(  # noqa: S603 (fixed program, our own arguments)
            [_gpgconf(settings), "--homedir", str(home), "--list-dirs", "agent-socket"],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
    except OSError:
        return home / "S.gpg-agent"
    return (
        Path(done.stdout.strip())
        if done.returncode == 0 and done.stdout.strip()
        else (home / "S.gpg-agent")
    )


def _stop_agent(home: Path, settings: Settings) -> None:
    # A missing agent is fine; any failure here only leaves an idle agent running.
    subprocess.run(  # noqa: S603 (fixed program, our own arguments)
        [_gpgconf(settings), "--homedir", str(home), "--kill", "gpg-agent"],
        capture_output=True,
        check=False,
        timeout=30,
    )


def org_key_fingerprint(settings: Settings) -> str | None:
    """The fingerprint of the organisation's signing key, or None when there is none yet.

    KeyringError when `evidence_key_fingerprint` names a key that is not in the keyring, or
    when none is named and the keyring holds several secret keys (which one would sign?).
    """
    home = settings.gnupg_dir
    if not home.is_dir():
        if settings.evidence_key_fingerprint:
            raise KeyringError(f"no keyring at {home} for key {settings.evidence_key_fingerprint}")
        return None
    listed = _gpg(home, settings).list_keys(secret=True)
    if getattr(listed, "returncode", 0):
        raise KeyringError(f"gpg cannot list the keys in {home}: {_last_line(listed.stderr)}")
    secret = [k["fingerprint"].upper() for k in listed]
    wanted = settings.evidence_key_fingerprint.replace(" ", "").upper()
    if wanted:
        if wanted not in secret:
            raise KeyringError(f"the signing key {wanted} is not a secret key in {home}")
        return wanted
    if len(secret) > 1:
        raise KeyringError(
            f"{home} holds {len(secret)} secret keys: set evidence_key_fingerprint to the one "
            "that signs evidence packages"
        )
    return secret[0] if secret else None


def ensure_org_key(settings: Settings) -> str:
    """The organisation's signing key's fingerprint, creating the key if there is none."""
    existing = org_key_fingerprint(settings)
    if existing is not None:
        return existing
    home = settings.gnupg_dir
    _check_home(home)
    with _lock:
        gpg = _gpg(home, settings)
        params = gpg.gen_key_input(
            key_type="EDDSA",
            key_curve="ed25519",
            key_usage="sign",
            name_real=settings.organisation,
            name_comment="evidence packages",
            name_email=f"evidence@{settings.hostname}",
            expire_date=0,
            no_protection=True,
        )
        result = gpg.gen_key(params)
    if not result.fingerprint:
        raise KeyringError(f"gpg could not create the signing key: {_last_line(result.stderr)}")
    return str(result.fingerprint).upper()


def public_key(settings: Settings) -> str:
    """The organisation's public key, ASCII-armored, for partners to check signatures with."""
    fingerprint = org_key_fingerprint(settings)
    if fingerprint is None:
        raise KeyringError("there is no signing key yet: run `switchboard init`")
    armored = _gpg(settings.gnupg_dir, settings).export_keys(fingerprint, armor=True)
    if not armored:
        raise KeyringError(f"gpg could not export the public key {fingerprint}")
    return str(armored)


def sign_detached(data: bytes, settings: Settings) -> bytes:
    """An ASCII-armored detached signature of `data` by the organisation's key (RFC 4880)."""
    fingerprint = org_key_fingerprint(settings)
    if fingerprint is None:
        raise KeyringError("there is no signing key: run `switchboard init` to create it")
    home = settings.gnupg_dir
    _check_home(home)
    result = _gpg(home, settings).sign(
        data, keyid=fingerprint, detach=True, binary=False, extra_args=["--digest-algo", "SHA256"]
    )
    if not result.data or str(result.fingerprint or "").upper() != fingerprint:
        raise KeyringError(f"gpg could not sign: {_last_line(result.stderr)}")
    return bytes(result.data)


@contextmanager
def throwaway_keyring(settings: Settings) -> Iterator[Any]:
    """A gpg over an empty temporary keyring, removed afterwards (partner keys, checks)."""
    home = Path(tempfile.mkdtemp(prefix="sb-gpg-"))
    try:
        try:
            gpg = gnupg.GPG(gnupghome=str(home), gpgbinary=settings.gpg_binary)
        except (OSError, ValueError) as exc:
            raise KeyringError(f"cannot run gpg ({settings.gpg_binary}): {exc}") from exc
        yield gpg
    finally:
        _stop_agent(home, settings)
        shutil.rmtree(home, ignore_errors=True)


def _import_one(gpg: Any, armored: str) -> str:
    """Import exactly one public key into `gpg`'s keyring; its fingerprint, or ValueError."""
    if not isinstance(armored, str) or not armored.strip():
        raise ValueError("no key given: paste the partner's OpenPGP public key (armored)")
    if len(armored) > MAX_KEY_TEXT:
        raise ValueError("that is too large to be an OpenPGP public key")
    if "PRIVATE KEY BLOCK" in armored:
        raise ValueError("this is a private key: ask the partner for their public key only")
    result = gpg.import_keys(armored)
    if getattr(result, "sec_imported", 0) or gpg.list_keys(secret=True):
        raise ValueError("this contains a private key: ask the partner for their public key only")
    fingerprints = sorted({str(f).upper() for f in result.fingerprints})
    if not fingerprints:
        raise ValueError("this is not an OpenPGP public key (gpg could import nothing from it)")
    if len(fingerprints) > 1:
        raise ValueError(f"this holds {len(fingerprints)} keys: give one partner key at a time")
    return fingerprints[0]


def import_check(armored: str, settings: Settings | None = None) -> str:
    """The fingerprint of `armored`, if it is one usable public key that can encrypt.

    ValueError, with a message a staff member can act on, when it is not OpenPGP, holds
    a private key or several keys, or is expired, revoked or without an encryption subkey.
    """
    with throwaway_keyring(settings or Settings()) as gpg:
        fingerprint = _import_one(gpg, armored)
        keys = gpg.list_keys(keys=[fingerprint])
        key = keys[0] if keys else {}
        if key.get("trust") == "r":
            raise ValueError(f"the key {fingerprint} is revoked")
        if key.get("trust") == "e":
            raise ValueError(f"the key {fingerprint} has expired")
        # Upper-case "E" in the capabilities: the key as a whole can encrypt now (gpg's
        # colon listing; an expired or revoked encryption subkey does not count).
        if "E" not in str(key.get("cap", "")):
            raise ValueError(
                f"the key {fingerprint} cannot encrypt (no valid encryption subkey): ask the "
                "partner for a key with one"
            )
        trial = gpg.encrypt(b"check", [fingerprint], always_trust=True, armor=False)
        if not trial.ok:
            raise ValueError(f"gpg cannot encrypt to {fingerprint}: {trial.status}")
    return fingerprint


def encrypt_for(data: bytes, armored_public_key: str, settings: Settings) -> bytes:
    """`data` encrypted to the one key in `armored_public_key`: a binary OpenPGP message.

    The key is trusted because staff entered it in the partner registry (import_check);
    gpg's web of trust has no say here, hence always_trust.
    """
    with throwaway_keyring(settings) as gpg:
        fingerprint = _import_one(gpg, armored_public_key)
        result = gpg.encrypt(data, [fingerprint], always_trust=True, armor=False)
        if not result.ok or not result.data:
            raise ValueError(f"gpg could not encrypt to {fingerprint}: {result.status}")
        return bytes(result.data)


def verify_detached(
    signature: bytes, data: bytes, armored_key: str, settings: Settings | None = None
) -> str:
    """The signer's fingerprint if `signature` is a good detached signature of `data` by
    the one key in `armored_key`; ValueError saying what is wrong otherwise."""
    with throwaway_keyring(settings or Settings()) as gpg:
        fingerprint = _import_one(gpg, armored_key)
        signature_path = Path(gpg.gnupghome) / "signature.asc"
        signature_path.write_bytes(signature)
        result = gpg.verify_data(str(signature_path), data)
    signer = str(result.pubkey_fingerprint or result.fingerprint or "").upper()
    if not result.valid:
        reason = result.status or _last_line(result.stderr)
        if signer and signer != fingerprint:
            reason = f"made by another key ({signer})"
        raise ValueError(f"the signature does not verify: {reason}")
    if signer != fingerprint:
        raise ValueError(f"the signature is by another key ({signer}), not {fingerprint}")
    return signer


def _last_line(stderr: str | None) -> str:
    lines = [line for line in (stderr or "").splitlines() if line.startswith("gpg:")]
    return lines[-1][5:].strip() if lines else "no reason given"

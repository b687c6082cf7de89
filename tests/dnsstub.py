"""A tiny DNS server on 127.0.0.1 for the sender-authentication tests, and DKIM test keys.

`DnsStub` answers UDP queries from a dict of records (dnspython builds and parses the
messages), so the checks run against a real DNS exchange on a socket: NXDOMAIN for names it
does not know, an empty answer for a known name without that type, and silence (the
client times out) for names in `silent`, which is how a DNS outage looks.
"""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dkim
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dns.rdtypes.ANY.TXT import TXT


@dataclass
class DnsStub:
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)  # names never answered (a timeout)
    queries: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, name: str, rdtype: str, *values: str) -> None:
        self.records.setdefault((name.lower().rstrip("."), rdtype.upper()), []).extend(values)

    def start(self) -> DnsStub:
        self.sock.settimeout(0.2)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._answer(wire)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def _answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = question.name.to_text().lower().rstrip(".")
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rdtype))
            if name in self.silent:
                return None
            values = self.records.get((name, rdtype), [])
            if values:
                response.answer.append(_rrset(question.name, rdtype, values))
            elif not any(known == name for known, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


def _rrset(name: dns.name.Name, rdtype: str, values: list[str]) -> dns.rrset.RRset:
    if rdtype != "TXT":
        return dns.rrset.from_text(name, 300, "IN", rdtype, *values)
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.TXT)
    for value in values:
        data = value.encode()
        chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
        rrset.add(TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks), 300)
    return rrset


@contextmanager
def dns_stub() -> Iterator[DnsStub]:
    stub = DnsStub().start()
    try:
        yield stub
    finally:
        stub.stop()


@dataclass(frozen=True)
class DkimKey:
    """An RSA key pair for DKIM tests: sign with it, publish `record` at the selector."""

    private_pem: bytes
    record: str

    def sign(self, message: bytes, domain: str, selector: str = "test") -> bytes:
        """`message` with a DKIM-Signature of `domain` prepended (relaxed/relaxed)."""
        header = dkim.sign(
            message,
            selector.encode(),
            domain.encode(),
            self.private_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[b"from", b"to", b"subject", b"message-id"],
        )
        return bytes(header) + message


def new_dkim_key() -> DkimKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DkimKey(private, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}")

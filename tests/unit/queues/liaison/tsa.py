"""A local RFC 3161 timestamp authority for tests: `openssl ts -reply` behind a tiny HTTP
server on loopback, with a throwaway CA and a TSA certificate whose extendedKeyUsage is
critical timeStamping (RFC 3161 section 2.3; openssl refuses to verify otherwise).

Nothing here is our code: the certificates, the replies and the partner's check
(`openssl ts -verify`) all come from Debian's openssl.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

OPENSSL = "openssl"

_TSA_CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path, data: bytes | None = None) -> bytes:
    done = subprocess.run(
        [OPENSSL, *args], cwd=cwd, input=data, capture_output=True, check=True, timeout=60
    )
    return done.stdout


def make_tsa(workdir: Path, key: str = "rsa") -> Path:
    """A CA, a TSA certificate signed by it, and the `openssl ts` configuration, in workdir.
    key: "rsa" (RSA 2048) or "ec" (P-256) for the TSA's signing key."""
    workdir.mkdir(parents=True, exist_ok=True)
    new_key = ["-newkey", "rsa:2048"] if key == "rsa" else ["-newkey", "ec",
               "-pkeyopt", "ec_paramgen_curve:P-256"]  # fmt: skip
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-subj", "/CN=Test TSA Root", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=workdir)  # fmt: skip
    _openssl("req", *new_key, "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
             "-subj", "/CN=Test Timestamp Authority", cwd=workdir)  # fmt: skip
    (workdir / "tsa.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,nonRepudiation\n"
        "extendedKeyUsage=critical,timeStamping\n"
    )
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "tsa.pem", "-days", "30", "-extfile", "tsa.ext",
             cwd=workdir)  # fmt: skip
    (workdir / "serial").write_text("01\n")
    (workdir / "tsa.cnf").write_text(_TSA_CONFIG.format(dir=workdir))
    return workdir


def reply_for_query(workdir: Path, query: bytes) -> bytes:
    """What the authority answers to a DER TimeStampReq: `openssl ts -reply`."""
    (workdir / "query.tsq").write_bytes(query)
    _openssl("ts", "-reply", "-config", "tsa.cnf", "-queryfile", "query.tsq",
             "-out", "reply.tsr", cwd=workdir)  # fmt: skip
    return (workdir / "reply.tsr").read_bytes()


def query_for(workdir: Path, data: bytes, *, nonce: bool = True) -> bytes:
    """`openssl ts -query` for `data` (another client's request, made outside our code)."""
    (workdir / "data.bin").write_bytes(data)
    args = ["ts", "-query", "-data", "data.bin", "-sha256", "-cert"]
    return _openssl(*args, *([] if nonce else ["-no_nonce"]), cwd=workdir)


@dataclass
class LocalTSA:
    """The running authority. `mode` changes what it answers:
    "ok"; "other-data" (a valid token, over other data); "garbage"; "http-error"."""

    workdir: Path
    url: str = ""
    mode: str = "ok"
    queries: list[bytes] = field(default_factory=list)


@contextmanager
def running_tsa(workdir: Path) -> Iterator[LocalTSA]:
    tsa = LocalTSA(workdir)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            query = self.rfile.read(length)
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_error(415)
                return
            tsa.queries.append(query)
            if tsa.mode == "http-error":
                self.send_error(503)
                return
            with lock:
                if tsa.mode == "other-data":
                    body = reply_for_query(workdir, query_for(workdir, b"other data"))
                elif tsa.mode == "garbage":
                    body = b"this is not DER"
                else:
                    body = reply_for_query(workdir, query)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tsa.url = f"http://127.0.0.1:{server.server_address[1]}/tsa"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tsa
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

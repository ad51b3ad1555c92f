"""Who may talk to a distributed search's chief: a shared token on every call, TLS when the user gives a
certificate (no TensorFlow here; ``grpc`` is imported inside the functions).

The chief serves the oracle over gRPC: whoever reaches its port could read the search space and the trials'
hyperparameters, report made-up results that the oracle ranks, or end trials. So every call carries the
token (a gRPC client interceptor adds it as metadata: call credentials are not sent over a plain channel),
and a server interceptor compares it in constant time before any handler runs; a call without it is
answered UNAUTHENTICATED at once, without reading its request, so a silent client holds no server thread.
The token comes from ``AUTOSEARCH_CHIEF_TOKEN``, or a file only its owner can read (``--token-file``), or
is generated into ``<run dir>/chief.token``; it never appears on a command line or in a log. TLS
(``--tls-cert/--tls-key`` on the chief, ``--tls-ca`` on the workers) keeps the token and the trials from
being read on the wire. What this does not cover: workers write the tracker directly, so the tracker's
credentials are a second key to guard.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from autosearch.errors import DistributedError

TOKEN_ENV = "AUTOSEARCH_CHIEF_TOKEN"
TOKEN_FILE = "chief.token"  # in the run folder, when the chief generated the token
METADATA_KEY = "x-autosearch-chief-token"
MIN_LENGTH = 16
PROBE = "/keras_tuner.Oracle/GetSpace"  # an empty request: answered by any live, authenticated chief
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Link:
    """What a process needs to talk to a chief (or, on the chief, to admit callers). Never printed."""

    token: str = field(repr=False)
    source: str  # where the token came from, for messages: "AUTOSEARCH_CHIEF_TOKEN" or a file's path
    ca: bytes | None = field(default=None, repr=False)  # a worker's trusted root: TLS when given
    cert_key: tuple[bytes, bytes] | None = field(default=None, repr=False)  # the chief's certificate and key


def read_token_file(path: str | Path) -> str:
    """The token in ``path``; ``DistributedError`` unless it is a regular file only its owner can read."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise DistributedError(f"chief token file {path}: {exc.strerror}; give the file the chief named "
                               "(copy it to this machine) or set AUTOSEARCH_CHIEF_TOKEN.") from None
    if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077:
        raise DistributedError(f"chief token file {path} can be read by others (mode {stat.S_IMODE(st.st_mode):o}); "
                               f"make it owner-only: chmod 600 {path}.")
    return _checked(path.read_text(encoding="utf-8").strip(), str(path))


def _checked(token: str, source: str) -> str:
    if len(token) < MIN_LENGTH or any(c.isspace() for c in token):
        raise DistributedError(f"the chief token from {source} is shorter than {MIN_LENGTH} characters or holds "
                               "spaces; use a long random one, e.g. python -c 'import secrets; "
                               "print(secrets.token_urlsafe(32))'.")
    return token


def new_token_file(path: Path) -> str:
    """Generate a token into ``path`` (created owner-only; an existing file is never overwritten)."""
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def given_token(token_file: str | Path | None) -> tuple[str, str] | None:
    """(token, source) from ``--token-file`` or ``AUTOSEARCH_CHIEF_TOKEN`` (the file wins), or None."""
    if token_file:
        return read_token_file(token_file), str(token_file)
    env = os.environ.get(TOKEN_ENV, "").strip()
    return (_checked(env, TOKEN_ENV), TOKEN_ENV) if env else None


def worker_link(token_file: str | None, run_dir: Path, ca_file: str | None) -> Link:
    """A worker's link: the token from ``--token-file``, the environment or the run folder's ``chief.token``."""
    given = given_token(token_file)
    if given is None:
        generated = run_dir / TOKEN_FILE
        if not generated.is_file():
            raise DistributedError(f"no chief token: pass --token-file <the file the chief named> or set "
                                   f"{TOKEN_ENV} (the run folder {run_dir} holds no {TOKEN_FILE}).")
        given = read_token_file(generated), str(generated)
    return Link(*given, ca=read_pem(ca_file, "--tls-ca") if ca_file else None)


def chief_link(token_file: str | None, run_dir: Path, tls: tuple[str, str] | None) -> tuple[Link, Path | None]:
    """The chief's link and the token file it generated into ``run_dir`` (None when the token was given)."""
    given = given_token(token_file)
    made = None
    if given is None:
        made = run_dir / TOKEN_FILE
        given = new_token_file(made), str(made)
    cert_key = (read_pem(tls[0], "--tls-cert"), read_pem(tls[1], "--tls-key")) if tls else None
    return Link(*given, cert_key=cert_key), made


def read_pem(path: str | Path, option: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DistributedError(f"{option} {path}: {exc.strerror}; give a PEM file.") from None
    if b"-----BEGIN " not in data:
        raise DistributedError(f"{option} {path} is not a PEM file (no '-----BEGIN' line); give a PEM file.")
    return data


def _grpc() -> Any:
    """``grpc``, its C core told to log errors only (it logs each failed TLS handshake at INFO, on stderr)."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import grpc

    return grpc


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def server_interceptor(token: str, refused: Callable[[str], None]) -> Any:
    """A gRPC server interceptor admitting only calls that carry ``token``; ``refused(line)`` once per peer."""
    grpc = _grpc()

    expected = _digest(token)
    seen: set[str] = set()

    def refuse(requests: Any, context: Any) -> None:  # never reads the request: a silent client holds nothing
        peer = context.peer().rpartition(":")[0] or context.peer()
        if peer not in seen:
            seen.add(peer)
            refused(f"refused a call from {peer}: no or wrong chief token")
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "the chief refused this caller's token")

    refusal = grpc.stream_unary_rpc_method_handler(refuse)

    class TokenCheck(grpc.ServerInterceptor):
        def intercept_service(self, continuation: Any, details: Any) -> Any:
            given = next((v for k, v in details.invocation_metadata or () if k == METADATA_KEY), "")
            if hmac.compare_digest(_digest(given if isinstance(given, str) else ""), expected):
                return continuation(details)
            return refusal

    return TokenCheck()


def serve_port(server: Any, address: str, link: Link) -> None:
    """Bind ``address`` on ``server``: TLS with the link's certificate and key, else plain. ``RuntimeError``
    when the port cannot be bound (gRPC's own)."""
    grpc = _grpc()

    if link.cert_key:
        cert, key = link.cert_key
        server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
    else:
        server.add_insecure_port(address)


_Details = collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready",
                                               "compression"))


def open_channel(address: str, link: Link) -> Any:
    """A channel to the chief at ``address`` whose every call carries the token (TLS when the link has a CA)."""
    grpc = _grpc()

    class WithToken(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            metadata = [*(details.metadata or ()), (METADATA_KEY, link.token)]
            return continuation(_Details(details.method, details.timeout, metadata, details.credentials,
                                         details.wait_for_ready, details.compression), request)

    if link.ca:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=link.ca))
    else:
        channel = grpc.insecure_channel(address)
    return grpc.intercept_channel(channel, WithToken())


def probe(address: str, link: Link, timeout: float) -> None:
    """Wait (up to ``timeout`` s, the chief may still be starting) for the chief to answer an authenticated
    call; ``DistributedError`` at once when it refuses the token or the TLS handshake fails."""
    grpc = _grpc()

    channel = open_channel(address, link)
    call = channel.unary_unary(PROBE, request_serializer=bytes, response_deserializer=bytes)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                call(b"", timeout=5.0, wait_for_ready=False)
                return
            except grpc.RpcError as exc:
                code, details = exc.code(), " ".join(str(exc.details() or "").split())
            if code is grpc.StatusCode.UNAUTHENTICATED:
                raise DistributedError(f"the chief at {address} refused this worker's token (from {link.source}); "
                                       "use the chief's: --token-file <the file it named> or its "
                                       f"{TOKEN_ENV}.")
            if link.ca and ("ssl" in details.lower() or "handshake" in details.lower()):
                reason = re.findall(r"OPENSSL_internal:([A-Z_]+)", details) or [details[-120:]]
                raise DistributedError(f"the chief at {address} failed the TLS handshake ({reason[-1]}); it "
                                       "serves no TLS or a certificate --tls-ca does not vouch for: start it with "
                                       "--tls-cert/--tls-key, or give the CA that signed its certificate.")
            if time.monotonic() >= deadline:
                raise DistributedError(f"the chief at {address} did not answer within {timeout:.0f} s ({details[-160:]}); "
                                       "check that it runs and that this machine reaches that address.")
            time.sleep(1.0)
    finally:
        channel.close()

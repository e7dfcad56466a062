"""CloudFront in front of the stack, as the local cloud serves it on one port: a path of a cache behaviour with an
origin-request function (Lambda@Edge, /images/*) goes to that function (localcloud.edge_lambda), the API's stage to
the API Gateway (localcloud.gateway), POST /cognito to the user pool's public actions (the console's same-origin
Cognito), other GETs to the console's files; answers below 400 get the viewer-response function's headers, as
CloudFront's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from localcloud.edge_lambda import EdgeFunctions
from localcloud.gateway import Gateway, Reply, Request

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit (the functions enforce 64 KiB themselves)
# A refused oversized body is read and dropped up to this size so the client sees the 413, not a reset.
_MAX_DRAIN_BYTES = 64 * 1024 * 1024

# Browsers need these right whatever the machine's mime.types says (Python 3.11 calls .js application/...).
_WEB_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".webmanifest": "application/manifest+json",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
# What a browser may call on Cognito's public endpoint without AWS credentials; moto's server would also take
# unsigned admin actions (AdminAddUserToGroup...), which the console's same-origin proxy must not pass on.
_COGNITO_TARGET = "AWSCognitoIdentityProviderService."
_COGNITO_PUBLIC_ACTIONS = frozenset(
    {
        "SignUp",
        "ConfirmSignUp",
        "ResendConfirmationCode",
        "InitiateAuth",
        "RespondToAuthChallenge",
        "ForgotPassword",
        "ConfirmForgotPassword",
        "GetUser",
        "ChangePassword",
        "GlobalSignOut",
        "RevokeToken",
    }
)


class Distribution:
    """The stack's front door on one port: the API under its stage, the console's files and Cognito beside it,
    served on a background thread."""

    def __init__(
        self,
        api: Gateway,
        *,
        static_dir: Path | None = None,
        extra_files: Mapping[str, bytes] | None = None,  # URL path -> content, served before static_dir
        cognito_url: str | None = None,  # where POST /cognito is proxied (the console's same-origin Cognito)
        # Headers the template's CloudFront viewer-response function sets (localcloud.edge): added to every
        # response below 400, replacing the origin's, as CloudFront does in front of the deployed stack.
        viewer_response_headers: Mapping[str, str] | None = None,
        on_request: Callable[[dict[str, Any]], None] | None = None,
        # The cache behaviours' origin-request functions (Lambda@Edge) and the cache of their answers.
        edge: EdgeFunctions | None = None,
    ) -> None:
        self._api = api
        self._edge = edge
        self._static_dir = static_dir.resolve() if static_dir is not None else None
        self._extra_files = dict(extra_files or {})
        self._cognito_url = cognito_url
        self._viewer_headers = dict(viewer_response_headers or {})
        self._on_request = on_request
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 3000) -> int:
        """Serve on a thread; returns the bound port (port 0 = any free port)."""
        if self._server is not None:
            raise RuntimeError("the distribution is already serving")
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="distribution", daemon=True
        )
        self._thread.start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        with self._connections_lock:
            open_connections = list(self._connections)
        for connection in open_connections:  # idle keep-alive connections would otherwise linger
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        thread.join()
        self._server = self._thread = None

    def _track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._connections_lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # --- answering ---------------------------------------------------------------------------------------

    def answer(self, request: Request) -> Reply:
        """What the deployed stack (CloudFront, then API Gateway or the console bucket) would answer."""
        reply = self._origin_answer(request)
        if reply.status < 400 and self._viewer_headers:
            owned = {name.lower() for name in self._viewer_headers}
            kept = [(name, value) for name, value in reply.headers if name.lower() not in owned]
            reply.headers[:] = [*kept, *self._viewer_headers.items()]
        return reply

    def _origin_answer(self, request: Request) -> Reply:
        """The answer of the origin that the request's path goes to."""
        behaviour = self._edge.behaviour_for(request) if self._edge is not None else None
        if self._edge is not None and behaviour is not None:
            return self._edge.answer(behaviour, request)
        if self._api.serves(request.path):
            return self._api.answer(request)
        if request.path == "/cognito" and request.method == "POST" and self._cognito_url is not None:
            return self._cognito(self._cognito_url, request)
        if request.method in ("GET", "HEAD") and request.path in self._extra_files:
            content_type = _WEB_TYPES.get(Path(request.path).suffix.lower(), "application/octet-stream")
            headers = [("Content-Type", content_type), ("Cache-Control", "no-cache")]
            return Reply(200, headers, self._extra_files[request.path])
        if request.method in ("GET", "HEAD") and self._static_dir is not None:
            served = _static(self._static_dir, request.path)
            if served is not None:
                return served
        return self._api.not_found()

    def _cognito(self, url: str, request: Request) -> Reply:
        """Cognito's JSON 1.1 API for the console: the public actions only, passed on unchanged."""
        target = request.header("X-Amz-Target") or ""
        action = target.removeprefix(_COGNITO_TARGET) if target.startswith(_COGNITO_TARGET) else ""
        if action not in _COGNITO_PUBLIC_ACTIONS:  # what Cognito answers to an unsigned admin call
            refusal = {"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"}
            return Reply(400, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(refusal).encode())
        forwarded = urllib.request.Request(  # noqa: S310  (cognito_url is the local moto server's http URL)
            url,
            data=request.body,
            method="POST",
            headers={
                "Content-Type": request.header("Content-Type") or "application/x-amz-json-1.1",
                "X-Amz-Target": target,
            },
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=10) as response:  # noqa: S310
                status, headers, content = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:  # Cognito's own 4xx: the console shows its message
            status, headers, content = error.code, error.headers, error.read()
        except OSError:
            logger.exception("the Cognito endpoint could not be reached", extra={"url": url})
            return self._problem(502, "Bad Gateway", "the user pool could not be reached", "InternalServerError")
        return Reply(status, [("Content-Type", headers.get("Content-Type") or "application/x-amz-json-1.1")], content)

    def _problem(self, status: int, title: str, detail: str, error_type: str) -> Reply:
        """A refusal of the distribution's own (a body too large, a malformed request, Cognito out of reach) in the
        API's problem+json."""
        return self._api.problem(status, title, detail, error_type)

    def _too_large(self) -> Reply:
        return self._problem(413, "Content Too Large", "Request Too Long", "RequestTooLargeException")

    def _bad_request(self, detail: str) -> Reply:
        return self._problem(400, "Bad Request", detail, "BadRequestException")

    def _report(self, method: str, path: str, reply: Reply, started: float) -> None:
        if self._on_request is None:
            return
        record = {
            "method": method,
            "path": path,
            "status": reply.status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "function": reply.function,
        }
        try:
            self._on_request(record)
        except Exception:  # a broken log hook must not take the distribution down with it
            logger.exception("on_request failed")


def _static(root: Path, path: str) -> Reply | None:
    """The console's file at the path, as the console bucket serves it (a directory's index.html)."""
    decoded = unquote(path)
    if "\x00" in decoded:
        return None  # no file has a NUL in its name (and the OS refuses the question)
    target = (root / decoded.lstrip("/")).resolve()
    if not target.is_relative_to(root):
        return None
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return None
    content_type = _WEB_TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0]
    headers = [("Content-Type", content_type or "application/octet-stream"), ("Cache-Control", "no-cache")]
    return Reply(200, headers, target.read_bytes())


# ---------------------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() does not wait for idle keep-alive connections
    # Connections waiting to be accepted (socketserver's default is 5: a burst of clients got resets).
    request_queue_size = 512  # the kernel caps it at net.core.somaxconn (4096 by default)

    def __init__(self, address: tuple[str, int], distribution: Distribution) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.distribution = distribution
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (it timed out, and may retry) is its business, not a crash."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a browser talking to API Gateway
    disable_nagle_algorithm = True  # headers and body are two writes; no 40 ms delayed-ACK stall between them
    timeout = 120  # idle keep-alive connections close after this

    def version_string(self) -> str:
        return "localcloud-gateway"

    @property
    def distribution(self) -> Distribution:
        return cast(_Server, self.server).distribution

    def setup(self) -> None:
        super().setup()
        self.distribution._track(self.connection, opened=True)

    def finish(self) -> None:
        self.distribution._track(self.connection, opened=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)  # on_request is the access log

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client sends it.
        length = _content_length(self.headers.get("Content-Length"))
        if length is not None and length > MAX_REQUEST_BYTES:
            self.close_connection = True
            started = time.perf_counter()
            reply = self.distribution._too_large()
            self.distribution._report(self.command, urlsplit(self.path).path, reply, started)
            self._send(reply)
            return False
        return super().handle_expect_100()

    def _serve(self) -> None:
        started = time.perf_counter()
        target = urlsplit(self.path)
        path = target.path or "/"
        try:
            body = self._read_body()
        except _BodyTooLarge:
            reply = self.distribution._too_large()
        except ValueError as exc:
            self.close_connection = True
            reply = self.distribution._bad_request(str(exc))
        else:
            request = Request(
                method=self.command,
                path=path,
                query=target.query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=str(self.client_address[0]),
                protocol=self.request_version,
                local_port=cast(_Server, self.server).server_port,
            )
            reply = self.distribution.answer(request)
        # Reported before it is sent: whoever has the response can count on the record being there.
        self.distribution._report(self.command, path, reply, started)
        self._send(reply)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve
    # Methods no route takes get the API's answer for any unknown route, not http.server's HTML page.
    do_TRACE = do_CONNECT = _serve

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a request line too long, headers too large, a malformed request) answered
        as the API answers its refusals: problem+json, never an HTML page."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # http.server answers an unparsable line as HTTP/0.9: no status, no headers
        status = HTTPStatus(code)
        error_type = "BadRequestException" if code < 500 else "InternalServerErrorException"
        self._send(self.distribution._problem(code, status.phrase, message or status.description, error_type))

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        header = self.headers.get("Content-Length")
        if header is None:
            return b""
        length = _content_length(header)
        if length is None:
            raise ValueError("invalid Content-Length")
        if length > MAX_REQUEST_BYTES:
            if length <= _MAX_DRAIN_BYTES:
                self._drain(length)
            else:
                self.close_connection = True
            raise _BodyTooLarge
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        received = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as exc:
                raise ValueError("invalid chunked body") from exc
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            received += size
            if received > MAX_REQUEST_BYTES:
                self.close_connection = True
                raise _BodyTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _drain(self, length: int) -> None:
        while length > 0:
            piece = self.rfile.read(min(length, 1 << 20))
            if not piece:
                return
            length -= len(piece)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        no_body = reply.status in (204, 304) or reply.status < 200
        if not no_body:
            self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not no_body and self.command != "HEAD":
            self.wfile.write(reply.body)


def _content_length(header: str | None) -> int | None:
    if header is None or not header.strip().isdigit():
        return None
    return int(header)

"""One Lambda execution environment: a child process of localcloud.workers that runs one function's handler.

The standard library only, and nothing of localcloud: the handler sees Lambda's sys.path (its code directory,
then its layers, then the runtime's packages) and its own process, started as `python -I worker_main.py`.

Protocol on two pipes whose descriptors the parent passes in argv (stdout and stderr are the function's log):
frames of one kind byte, a 4-byte big-endian length, then the body. The child initialises, sends READY (or
INIT_ERROR and exits), then answers each INVOKE frame (a line of metadata, then the event's JSON) with RESULT
or ERROR. End of file on the request pipe means the parent is gone, and the child exits.
"""

from __future__ import annotations

import decimal
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import struct
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

HEADER = struct.Struct(">cI")
READY = b"R"
INIT_ERROR = b"I"
INVOKE = b"V"
RESULT = b"O"
ERROR = b"E"

Handler = Callable[[Any, "LambdaContext"], Any]


def encode_frame(kind: bytes, body: bytes) -> bytes:
    return HEADER.pack(kind, len(body)) + body


class LambdaContext:
    """The context object of Lambda's Python runtime (awslambdaric), attribute for attribute."""

    def __init__(self, aws_request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        # A string, as in Lambda: the runtime reads it from the environment and never converts it.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity: object | None = None
        self.client_context: object | None = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: str) -> None:
        sys.stdout.write(message)
        sys.stdout.flush()


class FaultError(Exception):
    """A failure of the runtime itself (bad handler name, import error), reported with Lambda's error type."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_payload(error_type: str, message: str, request_id: str, trace: list[str]) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def exception_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """What Lambda answers for an exception: its class name, message and stack without the runtime's frames."""
    frames = traceback.extract_tb(exc.__traceback__)
    # The first frame is this module's call into the handler (awslambdaric drops its bootstrap frames too).
    user_frames = [frame for frame in frames if frame.filename != __file__]
    return error_payload(type(exc).__name__, str(exc), request_id, traceback.format_list(user_frames))


def log_error(payload: dict[str, Any]) -> None:
    """The runtime's own [ERROR] line with the stack, as it appears in the function's log in Lambda."""
    lines = [f"[ERROR] {payload['errorType']}: {payload['errorMessage']}"]
    if payload["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(entry.rstrip("\n") for entry in payload["stackTrace"])
    sys.stderr.write("\n".join(lines) + "\n")


def load_handler(handler: str) -> Handler:
    """Import the handler's module and find the function, with Lambda's error types when that fails."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from exc
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from exc
    function = getattr(module, function_name, None)
    if function is None:
        raise FaultError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    loaded: Handler = function
    return loaded


class SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles the function's own code from source every cold start, never through a .pyc.

    A .pyc is trusted when the source's mtime matches to the second and its size is the same, so an edit
    made within a second of the last import could run stale code; the function's code is small, compiling
    it costs milliseconds. Nothing is written into the code and layer directories either.
    """

    def path_stats(self, path: str) -> dict[str, Any]:
        # No stats: importlib then neither reads nor writes the cached bytecode.
        raise OSError(path)


def install_source_only_import(roots: Sequence[str]) -> None:
    """Import modules under the code and layer directories through SourceOnlyLoader; others as usual."""
    prefixes = tuple(os.path.join(os.path.abspath(root), "") for root in roots)
    loaders: list[tuple[Any, list[str]]] = [
        (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
        (SourceOnlyLoader, importlib.machinery.SOURCE_SUFFIXES),
        (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES),
    ]
    source_only_finder = importlib.machinery.FileFinder.path_hook(*loaders)

    def hook(path: str) -> importlib.abc.PathEntryFinder:
        if not os.path.join(os.path.abspath(path), "").startswith(prefixes):
            raise ImportError("not the function's code")  # the next hook (the standard one) takes it
        return source_only_finder(path)

    sys.path_hooks.insert(0, hook)
    sys.path_importer_cache.clear()


def to_json(value: Any) -> bytes:
    def default(obj: Any) -> Any:
        # Lambda's runtime serialises Decimal (what DynamoDB returns for numbers) as a number.
        if isinstance(obj, decimal.Decimal):
            return float(obj)
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    return json.dumps(value, default=default).encode()


def read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> tuple[bytes, bytes] | None:
    header = read_exactly(fd, HEADER.size)
    if header is None:
        return None
    kind, size = HEADER.unpack(header)
    body = read_exactly(fd, size)
    return None if body is None else (kind, body)


def write_frame(fd: int, kind: bytes, body: bytes) -> None:
    # The handler's output goes out first, so that the parent finds it in the log when the answer arrives.
    sys.stdout.flush()
    sys.stderr.flush()
    data = memoryview(encode_frame(kind, body))
    while data:
        data = data[os.write(fd, data) :]


def invoke(handler: Handler, request: bytes) -> tuple[bytes, bytes]:
    """One invocation: the request is a line of metadata, then the event's JSON."""
    metadata_json, _, event_json = request.partition(b"\n")
    metadata = json.loads(metadata_json)
    request_id: str = metadata["request_id"]
    context = LambdaContext(request_id, metadata["invoked_function_arn"], metadata["deadline_ms"])
    event = json.loads(event_json)
    try:
        result = handler(event, context)
    except Exception as exc:
        payload = exception_payload(exc, request_id)
        log_error(payload)
        return ERROR, json.dumps(payload).encode()
    try:
        return RESULT, to_json(result)
    except (TypeError, ValueError) as exc:
        payload = error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id, [])
        log_error(payload)
        return ERROR, json.dumps(payload).encode()


def initialise(handler: str) -> Handler | dict[str, Any]:
    """The cold start: the handler, or Lambda's error payload when it cannot be loaded."""
    try:
        return load_handler(handler)
    except FaultError as fault:
        return error_payload(fault.error_type, fault.message, "", fault.trace)
    except Exception as exc:
        # Any other exception while importing (a missing setting, say) is reported under its own class name.
        return exception_payload(exc, "")


def main(argv: Sequence[str]) -> int:
    request_fd, response_fd = int(argv[1]), int(argv[2])
    # Processes the handler starts must not hold the protocol's pipes open after this one is gone.
    os.set_inheritable(request_fd, False)
    os.set_inheritable(response_fd, False)
    roots = list(argv[3:])
    sys.path[:0] = roots
    install_source_only_import(roots)
    loaded = initialise(os.environ["_HANDLER"])
    if isinstance(loaded, dict):
        log_error(loaded)
        write_frame(response_fd, INIT_ERROR, json.dumps(loaded).encode())
        return 1
    write_frame(response_fd, READY, b"")
    while (frame := read_frame(request_fd)) is not None:
        _, body = frame
        write_frame(response_fd, *invoke(loaded, body))
    return 0  # the parent is gone


if __name__ == "__main__":
    sys.exit(main(sys.argv))

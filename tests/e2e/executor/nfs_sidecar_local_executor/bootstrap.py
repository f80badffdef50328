"""The execution environment: runs under the function's Python, standard library only.

Started by executor.py with the function's environment (``_HANDLER``,
``LOCALSTACK_RUNTIME_ENDPOINT``, ``LOCALSTACK_RUNTIME_ID``, ``AWS_LAMBDA_FUNCTION_TIMEOUT``, ...)
and three private variables: the port to serve ``/invoke`` on, the output log (to return each
invocation's lines to LocalStack) and the user to drop to. Like Lambda's runtime, it imports the
handler once (init), reports ready, then runs one invocation at a time on the main thread and
writes START/END/REPORT lines.

Dropping to an unprivileged user: the interpreter may live where that user cannot read (pyenv under
/root), so the standard library modules a handler commonly needs are imported first, then the
process drops to the user, then it imports the handler from the (world-readable) task folder.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import queue
import sys
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREIMPORT = [
    "argparse",
    "base64",
    "binascii",
    "calendar",
    "collections",
    "contextlib",
    "copy",
    "csv",
    "ctypes",
    "ctypes.util",
    "dataclasses",
    "datetime",
    "decimal",
    "email.utils",
    "encodings.ascii",
    "encodings.idna",
    "encodings.latin_1",
    "encodings.utf_8",
    "enum",
    "errno",
    "fnmatch",
    "functools",
    "hashlib",
    "hmac",
    "http.client",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "logging",
    "logging.handlers",
    "math",
    "mimetypes",
    "ntpath",
    "operator",
    "pathlib",
    "platform",
    "posixpath",
    "pprint",
    "random",
    "re",
    "secrets",
    "select",
    "selectors",
    "shlex",
    "signal",
    "socket",
    "stat",
    "string",
    "struct",
    "subprocess",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "traceback",
    "types",
    "typing",
    "unicodedata",
    "urllib.error",
    "urllib.parse",
    "urllib.request",
    "uuid",
    "warnings",
    "weakref",
    "zlib",
    "zoneinfo",
]

ENDPOINT = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"].rstrip("/")
RUNTIME_ID = os.environ["LOCALSTACK_RUNTIME_ID"]
jobs: queue.Queue[dict] = queue.Queue()


def post(path: str, body: bytes) -> None:
    req = urllib.request.Request(f"{ENDPOINT}{path}", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as resp:
        resp.read()


def error_body(exc: BaseException, request_id: str | None = None) -> dict:
    body = {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_list(
            [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
        ),
    }
    if request_id:
        body["requestId"] = request_id
    return body


class InvokeHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        if self.path != "/invoke":
            self.send_response(404)
            self.end_headers()
            return
        jobs.put(json.loads(data))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class Context:
    def __init__(self, request_id: str, arn: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


class RequestIdFilter:
    request_id = ""

    def filter(self, record: object) -> bool:
        record.aws_request_id = self.request_id  # type: ignore[attr-defined]
        return True


def setup_logging() -> RequestIdFilter:
    """Lambda's Python runtime puts a handler on the root logger; so does this."""
    import logging

    flt = RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(flt)
    handler.setFormatter(
        logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(aws_request_id)s\t%(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper())
    return flt


def drop_privileges(user: str) -> None:
    import pwd

    for name in PREIMPORT:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    pw = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    os.environ["USER"] = os.environ["LOGNAME"] = user


def load_handler():
    module_name, _, func_name = os.environ["_HANDLER"].rpartition(".")
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    module = importlib.import_module(module_name.replace("/", "."))
    return getattr(module, func_name)


def main() -> None:
    port = int(os.environ.pop("_LOCAL_EXECUTOR_PORT"))
    log = open(os.environ.pop("_LOCAL_EXECUTOR_LOG"), "rb")  # noqa: SIM115 - kept open
    user = os.environ.pop("_LOCAL_EXECUTOR_USER", "")
    server = ThreadingHTTPServer(("127.0.0.1", port), InvokeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        if user:
            drop_privileges(user)
        print(
            f"[local-process executor] Python {sys.version.split()[0]} ({sys.executable}), "
            f"uid {os.getuid()}, task {os.environ['LAMBDA_TASK_ROOT']}"
        )
        flt = setup_logging()
        handler = load_handler()
    except Exception as e:
        traceback.print_exc()
        sys.stdout.flush()
        post(f"/status/{RUNTIME_ID}/error", json.dumps(error_body(e)).encode())
        sys.exit(1)
    post(f"/status/{RUNTIME_ID}/ready", b"{}")
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    while True:
        job = jobs.get()
        request_id = job["invoke-id"]
        flt.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = job.get("trace-id") or ""
        sys.stdout.flush()
        log.seek(0, os.SEEK_END)
        start = time.time()
        print(f"START RequestId: {request_id} Version: {version}")
        timer = threading.Timer(timeout, timed_out, args=(request_id, timeout, log))
        timer.start()
        try:
            event = json.loads(job["payload"])
            result = handler(
                event, Context(request_id, job["invoked-function-arn"], start + timeout)
            )
            body, kind = json.dumps(result).encode(), "response"
        except Exception as e:
            err = error_body(e, request_id)
            print(f"[ERROR] {err['errorType']}: {err['errorMessage']}", file=sys.stderr)
            traceback.print_exc()
            body, kind = json.dumps(err).encode(), "error"
        timer.cancel()
        ms = (time.time() - start) * 1000
        print(f"END RequestId: {request_id}")
        print(f"REPORT RequestId: {request_id}\tDuration: {ms:.2f} ms")
        sys.stdout.flush()
        sys.stderr.flush()
        logs = log.read().decode(errors="replace")
        post(f"/invocations/{request_id}/logs", json.dumps({"logs": logs}).encode())
        post(f"/invocations/{request_id}/{kind}", body)


def timed_out(request_id: str, timeout: float, log) -> None:
    """Like Lambda: the invocation fails and the environment is discarded."""
    print(
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {request_id} "
        f"Task timed out after {timeout:.2f} seconds"
    )
    sys.stdout.flush()
    body = {
        "errorMessage": f"Task timed out after {timeout:.2f} seconds",
        "errorType": "Sandbox.Timedout",
        "requestId": request_id,
    }
    try:
        post(
            f"/invocations/{request_id}/logs",
            json.dumps({"logs": log.read().decode(errors="replace")}).encode(),
        )
        post(f"/invocations/{request_id}/error", json.dumps(body).encode())
    finally:
        os._exit(1)


if __name__ == "__main__":
    main()

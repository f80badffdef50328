"""LocalStack in host mode (no Docker for LocalStack itself), in its own venv, ports and folders.

``localstack-core`` runs as ``python -m localstack.runtime.main`` from ``.venv-localstack``
(made by ``make localstack``; the ``localstack`` CLI would want an auth token). Everything it
writes goes under ``root`` except ``/tmp/localstack-s3-storage`` (hard-coded upstream), removed on
stop when this instance created it. Lambda functions run through:

- ``local-process`` (tests/e2e/executor, installed into LocalStack's venv): the deployed zip in a
  local Python process matching the runtime, as an unprivileged user; no Docker needed. What that
  user reads goes under a folder of its own in /tmp (``LOCAL_EXECUTOR_ROOT``, removed on stop), not
  under ``root``: the checkout ``root`` is in may be closed to other users;
- ``docker``: LocalStack's own executor, AWS's Lambda image (where a Docker engine is available).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.e2e.executor.nfs_sidecar_local_executor.sandbox import DEFAULT_PARENT, unreachable_reason
from tests.nfs_server import free_port

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("LOCALSTACK_VENV", REPO / ".venv-localstack"))
SERVICES = "sns,sqs,lambda,iam,sts,logs,ec2,kms,cloudwatch,s3"
S3_STORAGE = Path("/tmp/localstack-s3-storage")
PR_SET_PDEATHSIG = 1
INSTALL_HINT = "run `make localstack` (LocalStack's venv .venv-localstack with the test executor)"


def uv_pythons() -> dict[str, str]:
    """LOCAL_EXECUTOR_PYTHON_3_X for each Lambda Python the shared discovery (build/pythons.py)
    found uv-managed (`make deps` installs them there): the executor itself looks on PATH, in
    pyenv and /usr/bin only, and would run the function under the closest version instead."""
    spec = importlib.util.spec_from_file_location("nfs_sidecar_pythons", REPO / "build/pythons.py")
    assert spec is not None and spec.loader is not None
    pythons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pythons)
    try:
        found = pythons.discover()
    except pythons.InterpreterError:
        return {}  # a broken BUILD_PYTHONS: the build says so
    return {
        f"LOCAL_EXECUTOR_PYTHON_{version.replace('.', '_')}": path
        for version, (path, where) in found.items()
        if where == "uv"
    }


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the starting process dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def docker_bridge_gateway() -> str:
    """The host's address on Docker's default bridge: reachable from Lambda containers and here."""
    out = subprocess.run(
        ["docker", "network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    )
    return out.stdout.strip()


def choose_executor() -> str:
    """E2E_LAMBDA_EXECUTOR=local-process|docker|auto (default auto: docker when it works)."""
    wanted = os.environ.get("E2E_LAMBDA_EXECUTOR", "auto")
    if wanted == "auto":
        return "docker" if docker_available() else "local-process"
    if wanted not in ("docker", "local-process"):
        raise ValueError(f"E2E_LAMBDA_EXECUTOR={wanted!r}: want local-process, docker or auto")
    return wanted


class LocalStack:
    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        executor: str = "local-process",
        lambda_user: str = "nobody",
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.python = VENV / "bin" / "python"
        if not self.python.exists():
            raise RuntimeError(f"{self.python} not found: {INSTALL_HINT}")
        self.root = root
        self.host = host
        self.port = port or free_port(host)
        self.executor = executor
        self.lambda_user = lambda_user
        self.extra_env = extra_env or {}
        self.log = root / "localstack.log"
        self.pidfile = root / "localstack.pid"
        self.lambda_root: Path | None = None  # the local-process executor's LOCAL_EXECUTOR_ROOT
        self._proc: subprocess.Popen[bytes] | None = None
        self._owns_s3_storage = False

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "HOME", "PYENV_ROOT", "DOCKER_HOST", "USER")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            OVERRIDE_IN_DOCKER="0",
            FILESYSTEM_ROOT=str(self.root / "fs"),
            TMPDIR=str(self.root / "tmp"),
            XDG_CACHE_HOME=str(self.root / "cache"),  # plux's entry-point cache
            GATEWAY_LISTEN=f"{self.host}:{self.port}",
            LOCALSTACK_HOST=f"{self.host}:{self.port}",
            SQS_ENDPOINT_STRATEGY="off",
            SKIP_SSL_CERT_DOWNLOAD="1",
            DISABLE_EVENTS="1",
            DNS_ADDRESS="0",
            EAGER_SERVICE_LOADING="1",
            SERVICES=SERVICES,
            LAMBDA_RUNTIME_EXECUTOR=self.executor,
            LAMBDA_RETRY_BASE_DELAY="1",
            # Queue depths reach CloudWatch every 5 s instead of 60 s: the alarms on them can be
            # seen changing within a test.
            SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL="5",
            LOCAL_EXECUTOR_USER=self.lambda_user,
        )
        if self.lambda_root is not None:
            env["LOCAL_EXECUTOR_ROOT"] = str(self.lambda_root)
        if self.executor == "local-process":
            env.update(uv_pythons())
        if self.executor == "docker":
            # Lambda containers reach LocalStack (and the NFS server) at the host's bridge address.
            env.update(HOSTNAME_FROM_LAMBDA=self.host, LAMBDA_DOCKER_NETWORK="bridge")
        env.update(self.extra_env)
        return env

    def _make_lambda_root(self) -> None:
        """The local-process executor's folder: one the Lambda user can enter, checked now rather
        than seen later as a function that cannot import its own code."""
        if self.executor != "local-process":
            return
        if self.lambda_user:
            try:
                pw = pwd.getpwnam(self.lambda_user)
            except KeyError:
                raise RuntimeError(
                    f"no user {self.lambda_user} on this machine to run the Lambda functions as"
                ) from None
            if os.geteuid() != 0 and pw.pw_uid != os.geteuid():
                raise RuntimeError(
                    f"the Lambda functions run as {self.lambda_user}, which needs root: run the "
                    "tests and `make demo` as root (e.g. `sudo make e2e`)"
                )
        self.lambda_root = Path(tempfile.mkdtemp(prefix="nfs-sidecar-lambda-", dir=DEFAULT_PARENT))
        self.lambda_root.chmod(0o755)
        if self.lambda_user:
            reason = unreachable_reason(self.lambda_root, self.lambda_user, pw.pw_uid, pw.pw_gid)
            if reason:
                shutil.rmtree(self.lambda_root)
                self.lambda_root = None
                raise RuntimeError(reason)

    def start(self, timeout: float = 90) -> LocalStack:
        for sub in ("fs", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._make_lambda_root()
        self._owns_s3_storage = not S3_STORAGE.exists()
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [str(self.python), "-m", "localstack.runtime.main"],
                env=self.environment(),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C goes to the tests, which stop it in order
                preexec_fn=_die_with_parent,  # and should the tests be killed, it goes too
            )
        self.pidfile.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while not self.ready():
            rc = self._proc.poll()
            if rc is not None:
                self.stop()  # its folder in /tmp goes too
                raise RuntimeError(f"LocalStack exited rc={rc}; log:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"LocalStack not ready after {timeout} s; log:\n{self.log_tail()}"
                )
            time.sleep(0.2)
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_localstack/health", timeout=2) as r:
                services = json.load(r).get("services", {})
        except (OSError, ValueError):
            return False
        wanted = SERVICES.split(",")
        return all(services.get(s) in ("running", "available") for s in wanted)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            stop_process_group(proc.pid, proc.wait)
        self.pidfile.unlink(missing_ok=True)
        if self.lambda_root is not None:
            shutil.rmtree(self.lambda_root, ignore_errors=True)
            self.lambda_root = None
        # Shared by every LocalStack on the machine: only if this one made it and none runs now.
        if self._owns_s3_storage and not other_localstacks_running():
            shutil.rmtree(S3_STORAGE, ignore_errors=True)

    def function_interpreters(self) -> list[str]:
        """Which Python ran the function: what the local-process executor says of each runtime
        it started (``python3.12 under /usr/bin/python3.13 (closest available: ...)``)."""
        return function_interpreters(self.lambda_root, self.log)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def other_localstacks_running() -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if b"localstack.runtime.main" in cmdline.read_bytes():
                return True
    return False


def stop_process_group(pid: int, wait=None, grace: float = 20) -> None:
    """SIGTERM to the process group (LocalStack and its Lambda processes), then SIGKILL."""

    def alive() -> bool:
        if wait is not None:
            try:
                wait(timeout=0.2)
                return False
            except subprocess.TimeoutExpired:
                return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.2)
        return True

    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while alive():
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if wait is not None:
                wait(timeout=10)
            break
    # Anything left in the group (e.g. an orphaned Lambda process) goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def function_interpreters(lambda_root: Path | None, log: Path | None) -> list[str]:
    """The executor's choices (``python3.12: /usr/bin/python3.13 (closest available: ...)``), from
    its environments' logs (first line) while they are there, else from LocalStack's log."""
    found: list[str] = []
    if lambda_root is not None:
        for output in sorted(lambda_root.glob("env-*/output.log")):
            with contextlib.suppress(OSError), open(output, errors="replace") as f:
                first = f.readline().strip()
            if first.startswith("[local-process executor] "):
                runtime, _, rest = first.removeprefix("[local-process executor] ").partition(
                    " under "
                )
                found.append(f"{runtime}: {rest}")
    if not found and log is not None and log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if "local-process executor: runtime " in line:
                runtime, _, rest = line.split("local-process executor: runtime ", 1)[1].partition(
                    " runs under "
                )
                found.append(f"{runtime}: {rest}")
    return list(dict.fromkeys(found))

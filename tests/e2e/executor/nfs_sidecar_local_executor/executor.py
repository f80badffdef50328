"""The runtime executor: one local Python process per Lambda execution environment.

Protocol (LocalStack's ExecutorEndpoint, the same one its runtime-init speaks in Docker):
LocalStack POSTs ``/invoke`` to the environment's address; the environment reports
``.../status/<id>/ready`` (or ``/error``) once the handler is imported, and for each invocation
``.../invocations/<request id>/logs`` then ``/response`` or ``/error`` to
``LOCALSTACK_RUNTIME_ENDPOINT``. ``bootstrap.py`` is that
environment side; this module starts and stops it.

Each function version's code and the bootstrap are copied, readable by all, into a folder of the
version under ``sandbox_root()`` (removed with the version), and each environment gets a folder of
its own there (its HOME/TMPDIR and output log, removed when it stops): the sandbox user reaches
them wherever LocalStack's folders and the checkout are, whatever their modes.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from nfs_sidecar_local_executor.sandbox import (
    blocked_on_the_way,
    copy_readable,
    sandbox_root,
    unreachable_reason,
)

LOG = logging.getLogger(__name__)
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
_interpreters: dict[str, tuple[str, str]] = {}
_lock = threading.Lock()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _python_info(exe: str) -> tuple[tuple[int, int], Path] | None:
    """(version, standard library folder) of an interpreter; None if it does not run."""
    code = (
        "import sys, sysconfig; print('%d.%d' % sys.version_info[:2]); "
        "print(sysconfig.get_path('stdlib'))"
    )
    try:
        out = subprocess.run(
            [exe, "-c", code], capture_output=True, text=True, timeout=10, check=True
        ).stdout.splitlines()
        major, minor = out[0].split(".")
        return (int(major), int(minor)), Path(out[1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def _user_reads(stdlib: Path, pw: pwd.struct_passwd | None) -> bool:
    return pw is None or blocked_on_the_way(stdlib, pw.pw_uid, pw.pw_gid) is None


def find_interpreter(runtime: str) -> tuple[str, str]:
    """(path, why) of the Python to run a ``pythonX.Y`` runtime with; logs the choice once.

    Of two interpreters of the same version, the one whose standard library the sandbox user can
    read wins: with the other (e.g. pyenv's under /root), only the modules the bootstrap imports
    before dropping to that user are there for the handler."""
    with _lock:
        if runtime in _interpreters:
            return _interpreters[runtime]
        m = re.fullmatch(r"python(\d+)\.(\d+)", runtime or "")
        if not m:
            raise LambdaRuntimeException(
                f"runtime {runtime!r}: the local-process executor runs Python runtimes only"
            )
        want = (int(m[1]), int(m[2]))
        pw = sandbox_user()
        setting = f"LOCAL_EXECUTOR_PYTHON_{want[0]}_{want[1]}"
        override = os.environ.get(setting)
        if override:
            info = _python_info(override)
            if info is None:
                raise LambdaRuntimeException(f"{setting}={override}: does not run")
            exe, why, stdlib = override, setting, info[1]
        else:
            pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
            candidates = sorted(glob.glob(f"{pyenv}/versions/[0-9]*.*/bin/python3"), reverse=True)
            candidates += [p for p in (shutil.which(f"python{want[0]}.{want[1]}"),) if p]
            candidates += [p for p in glob.glob("/usr/bin/python3.*") if re.search(r"\d$", p)]
            candidates.append(sys.executable)
            found: dict[tuple[int, int], tuple[str, Path]] = {}
            for candidate in candidates:
                info = _python_info(candidate)
                if not info or info[0][0] != want[0]:
                    continue
                version, lib = info
                if version not in found or (
                    not _user_reads(found[version][1], pw) and _user_reads(lib, pw)
                ):
                    found[version] = (candidate, lib)
            if want in found:
                (exe, stdlib), why = found[want], "matches the runtime"
            elif found:
                closest = min(found, key=lambda v: (abs(v[1] - want[1]), -v[1]))
                exe, stdlib = found[closest]
                why = (
                    f"closest available: Python {closest[0]}.{closest[1]}, NOT the runtime's "
                    f"{want[0]}.{want[1]}"
                )
            else:
                raise LambdaRuntimeException(f"no Python {want[0]} interpreter for {runtime}")
        if pw is not None and not _user_reads(stdlib, pw):
            why += (
                f"; {pw.pw_name} cannot read its standard library {stdlib}: the handler has only "
                f"the modules the bootstrap imports first (set {setting} to a Python it can read)"
            )
        choice = (exe, why)
        LOG.info("local-process executor: runtime %s runs under %s (%s)", runtime, *choice)
        _interpreters[runtime] = choice
        return choice


def sandbox_user() -> pwd.struct_passwd | None:
    """The user to run the handler as (LOCAL_EXECUTOR_USER); fails at once when that cannot be."""
    user = os.environ.get("LOCAL_EXECUTOR_USER", "").strip()
    if not user:
        return None
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise LambdaRuntimeException(
            f"LOCAL_EXECUTOR_USER={user}: no such user on this machine (create it, or set "
            "LOCAL_EXECUTOR_USER to an existing unprivileged user such as nobody)"
        ) from None
    if os.geteuid() != 0 and pw.pw_uid != os.geteuid():
        raise LambdaRuntimeException(
            f"LOCAL_EXECUTOR_USER={user}: only root can run the handler as another user, and "
            f"LocalStack runs as uid {os.geteuid()}: run it as root, or set LOCAL_EXECUTOR_USER "
            "empty to run the handler as LocalStack's own user"
        )
    return pw


def version_dir(function_version: FunctionVersion) -> Path:
    """The version's folder: its code (task/) and the bootstrap (runtime/)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", function_version.id.function_name)
    qualifier = re.sub(r"[^A-Za-z0-9._-]", "_", function_version.id.qualifier)
    revision = function_version.config.internal_revision
    return sandbox_root() / f"version-{name}-{qualifier}-{revision}"


def prepare_version_dir(function_version: FunctionVersion) -> Path:
    """Copies the version's unzipped code and the bootstrap into its folder (once)."""
    dest = version_dir(function_version)
    pw = sandbox_user()
    if pw is not None:
        reason = unreachable_reason(dest.parent, pw.pw_name, pw.pw_uid, pw.pw_gid)
        if reason:
            raise LambdaRuntimeException(reason)
    if dest.is_dir():
        return dest
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        copy_readable(function_version.config.code.get_unzipped_code_location(), staging / "task")
        runtime = staging / "runtime"
        runtime.mkdir(mode=0o755)
        shutil.copyfile(BOOTSTRAP, runtime / BOOTSTRAP.name)
        (runtime / BOOTSTRAP.name).chmod(0o644)
        staging.chmod(0o755)
        try:
            staging.rename(dest)
        except OSError:  # prepared meanwhile by another thread
            if not dest.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


class LocalProcessRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.executor_endpoint = ExecutorEndpoint(self.id, container_address="127.0.0.1")
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None
        self.log_path: Path | None = None

    # Where LocalStack listens, as seen from the environment (same host).
    def get_endpoint_from_executor(self) -> str:
        host = config.GATEWAY_LISTEN[0].host
        return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host

    def get_runtime_endpoint(self) -> str:
        return (
            f"http://{self.get_endpoint_from_executor()}:{config.GATEWAY_LISTEN[0].port}"
            f"{self.executor_endpoint.get_endpoint_prefix()}"
        )

    def get_address(self) -> str:
        return self.executor_endpoint.container_address

    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        cfg = self.function_version.config
        interpreter, why = find_interpreter(str(cfg.runtime or ""))
        pw = sandbox_user()
        user = pw.pw_name if pw else ""
        version = prepare_version_dir(self.function_version)  # done already, unless removed
        task = version / "task"
        bootstrap = version / "runtime" / BOOTSTRAP.name
        self.workdir = Path(tempfile.mkdtemp(prefix=f"env-{self.id}-", dir=sandbox_root()))
        self.workdir.chmod(0o755)
        tmp = self.workdir / "tmp"
        tmp.mkdir(mode=0o700)
        if pw is not None:
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
        self.log_path = self.workdir / "output.log"
        port = _free_port("127.0.0.1")
        self.executor_endpoint.container_port = port

        env = {k: str(v) for k, v in env_vars.items()}
        env.update(
            LAMBDA_TASK_ROOT=str(task),
            LAMBDA_RUNTIME_DIR=str(bootstrap.parent),
            PATH="/usr/local/bin:/usr/bin:/bin",
            LANG="en_US.UTF-8",
            LD_LIBRARY_PATH=f"{task}:{task}/lib",
            PYTHONPATH=str(task),
            PYTHONDONTWRITEBYTECODE="1",
            HOME=str(tmp),
            TMPDIR=str(tmp),
            _LOCAL_EXECUTOR_PORT=str(port),
            _LOCAL_EXECUTOR_LOG=str(self.log_path),
            _LOCAL_EXECUTOR_USER=user,
        )
        LOG.info(
            "local-process executor: starting environment %s of %s: %s (%s), as %s, in %s",
            self.id,
            cfg.runtime,
            interpreter,
            why,
            user or f"uid {os.getuid()}",
            task,
        )
        with open(self.log_path, "wb") as log:
            log.write(
                f"[local-process executor] {cfg.runtime} under {interpreter} ({why}), "
                f"as {user or f'uid {os.getuid()}'}\n".encode()
            )
            log.flush()
            self.process = subprocess.Popen(
                [interpreter, "-u", str(bootstrap)],
                env=env,
                cwd=task,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # in LocalStack's process group: stopping LocalStack's group stops it too
        self.log_path.chmod(0o644)
        threading.Thread(target=self._watch, daemon=True, name=f"watch-{self.id}").start()
        self.executor_endpoint.wait_for_startup()

    def _watch(self) -> None:
        """Fails the startup when the process dies before saying it is ready."""
        process = self.process
        if process is None:
            return
        rc = process.wait()
        future = self.executor_endpoint.startup_future
        if future is not None and not future.done():
            future.set_exception(
                StatusErrorException(
                    f"environment process exited rc={rc} during startup", payload=self.get_logs()
                )
            )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        try:
            self.executor_endpoint.shutdown()
        except Exception as e:
            LOG.debug("shutting down executor endpoint %s: %s", self.id, e)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        if self.process is None or self.process.poll() is not None:
            raise LambdaRuntimeException(f"execution environment {self.id} is not running")
        return self.executor_endpoint.invoke(payload)

    def get_logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if not function_version.config.code:
            raise LambdaRuntimeException("the local-process executor runs zip functions only")
        function_version.config.code.prepare_for_execution()
        find_interpreter(str(function_version.config.runtime or ""))
        prepare_version_dir(function_version)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        shutil.rmtree(version_dir(function_version), ignore_errors=True)

    @classmethod
    def validate_environment(cls) -> bool:
        return True

"""`make demo`: the end-to-end stack, brought up for a person, left running until `make down`.

    python -m tests.e2e.demo up                      # NFS + LocalStack, deploy, publish a sample
    python -m tests.e2e.demo publish FILE [RESULTS]  # one more notification, prints the sidecar
    python -m tests.e2e.demo status
    python -m tests.e2e.demo down                    # stop everything, remove .tmp/demo

``up`` starts a background keeper process (``serve``, pid in .tmp/demo/stack.pid) that owns the NFS
server (nfs-ganesha on loopback) and LocalStack and stops both when it gets SIGTERM; then it applies
the Terraform example against LocalStack (state in .tmp/demo/tf) like the tests do. Everything
lives in .tmp/demo but what the Lambda user reads (LocalStack's executor folder under /tmp): the
checkout may be closed to other users. The function mounts the export by its pseudo path
(``/open``), so the checkout's path may have spaces or any letter in it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.e2e.localstack import (
    LocalStack,
    choose_executor,
    docker_bridge_gateway,
    function_interpreters,
    stop_process_group,
)
from tests.e2e.stack import EXAMPLE, REPO, build_zip, client, publish, sidecar_path
from tests.e2e.terraform import Terraform
from tests.nfs_server import NfsServer

ROOT = REPO / ".tmp" / "demo"
PIDFILE = ROOT / "stack.pid"
STATE = ROOT / "stack.json"
DEPLOYMENT = ROOT / "deployment.json"
NAME = "nfs-sidecar-demo"
SAMPLE = "demo/results/run-0001.tar.gz"
SAMPLE_RESULTS = {"accuracy": 0.973, "model": "demo-model", "labels": ["cat", "dog"]}


def say(msg: str = "") -> None:
    print(msg, flush=True)


def keeper_pid() -> int | None:
    try:
        pid = int(PIDFILE.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# The background keeper: owns the servers while the demo is up.
def serve() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    executor = choose_executor()
    host = docker_bridge_gateway() if executor == "docker" else "127.0.0.1"
    nfs = NfsServer(ROOT / "nfs", host=host)
    ls = LocalStack(ROOT / "localstack", host=host, executor=executor)
    try:
        nfs.start()
        say(f"NFS server up: {nfs.host} nfs port {nfs.nfs_port}, mount port {nfs.mount_port}")
        ls.start()
        say(f"LocalStack up: {ls.endpoint} (Lambda executor: {executor})")
        state = {
            "endpoint": ls.endpoint,
            "executor": executor,
            "lambda_root": str(ls.lambda_root or ""),
            "nfs": {
                "host": nfs.host,
                "nfs_port": nfs.nfs_port,
                "mount_port": nfs.mount_port,
                "exports": {
                    n: {"local": str(e.local), "path": e.path} for n, e in nfs.exports.items()
                },
                "pidfile": str(ROOT / "nfs" / "ganesha.pid"),
            },
            "localstack_pidfile": str(ls.pidfile),
        }
        STATE.write_text(json.dumps(state, indent=2))
        stop.wait()
    finally:
        say("stopping LocalStack and the NFS server")
        ls.stop()
        nfs.close()
        STATE.unlink(missing_ok=True)


def wait_for_keeper(proc: subprocess.Popen[bytes], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not STATE.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log = (ROOT / "stack.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"the demo stack did not come up; its log:\n{log}")
        time.sleep(0.2)
    return load(STATE)


def up() -> None:
    if os.geteuid() != 0:
        raise SystemExit(
            "make demo needs root: the NFS server (nfs-ganesha) serves its exports only as root, "
            "and the function runs as the unprivileged user nobody. Run it as root "
            "(e.g. `sudo make demo`)."
        )
    if keeper_pid():
        say("The demo is already running (`make down` stops it). Status:")
        status()
        return
    shutil.rmtree(ROOT, ignore_errors=True)
    ROOT.mkdir(parents=True)
    zip_path = build_zip()
    say(f"function zip: {os.path.relpath(zip_path)}")
    started = time.monotonic()
    with open(ROOT / "stack.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.demo", "serve"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    PIDFILE.write_text(f"{proc.pid}\n")
    try:
        state = wait_for_keeper(proc)
        say(
            f"NFS server and LocalStack up in {time.monotonic() - started:.0f} s: "
            f"{state['endpoint']}"
        )
        say("deploying the Terraform example (about a minute)...")
        started = time.monotonic()
        tf = Terraform(EXAMPLE, ROOT / "tf", state["endpoint"])
        nfs = state["nfs"]
        outputs = tf.apply(
            {
                "name": NAME,
                "lambda_zip_path": str(zip_path),
                "nfs_server": nfs["host"],
                "nfs_export": nfs["exports"]["open"]["path"],
                "nfs_port": nfs["nfs_port"],
                "nfs_mount_port": nfs["mount_port"],
            }
        )
        DEPLOYMENT.write_text(json.dumps(outputs, indent=2))
        say(
            f"deployed in {time.monotonic() - started:.0f} s: function {outputs['function_name']}, "
            f"topic {outputs['topic_arn']}"
        )
        say()
        publish_one(SAMPLE, SAMPLE_RESULTS)
    except BaseException:
        say("\nthe demo failed: stopping what it started")
        down(quiet=True)
        raise
    export = nfs["exports"]["open"]["local"]
    say(
        f"""
The demo stack is running.
  export folder (put files here): {os.path.relpath(export)}
    (the function writes as an unprivileged user: folders you make need `chmod 777`)
  NFS export:                     {nfs["host"]}:{nfs["exports"]["open"]["path"]} \
(nfs port {nfs["nfs_port"]}, mount port {nfs["mount_port"]})
  LocalStack:                     {state["endpoint"]}  (access key/secret: test/test, us-east-1)
  topic:                          {outputs["topic_arn"]}

Publish more (the file is created with sample bytes if it is not there):
  make demo-publish FILE=demo/other/file.bin RESULTS='{{"score": 1}}'
or with any AWS client:
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \\
    aws --endpoint-url {state["endpoint"]} sns publish --topic-arn {outputs["topic_arn"]} \\
    --message '{{"filename": "{SAMPLE}", "results": {{"run": 2}}}}'
Failed notifications go to {outputs.get("failure_queue_url", "the failure queue")}.

Stop everything: make down"""
    )


def publish_one(filename: str, results: Any) -> None:
    if not STATE.exists() or not DEPLOYMENT.exists():
        raise SystemExit("the demo is not running: `make demo` first")
    state, outputs = load(STATE), load(DEPLOYMENT)
    export = Path(state["nfs"]["exports"]["open"]["local"])
    path = export / filename.lstrip("/")
    # Only inside the export: a name that leaves it is still published, to show its rejection.
    if path.resolve().is_relative_to(export.resolve()) and not path.exists():
        # World-writable, as the function (like the tests' clients) runs as an unprivileged uid.
        for folder in reversed([path.parent, *path.parent.relative_to(export).parents]):
            (export / folder).mkdir(exist_ok=True)
            (export / folder).chmod(0o777)
        path.write_bytes(os.urandom(4096))
        say(f"created {os.path.relpath(path)} (4 KiB of sample bytes)")
    side = sidecar_path(export, filename)
    before = side.stat().st_mtime_ns if side.exists() else None
    message = {"filename": filename, "results": results}
    sent = publish(client("sns", state["endpoint"]), str(outputs["topic_arn"]), message)
    say(f"published {json.dumps(message, ensure_ascii=False)} (message id {sent.message_id})")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if side.exists() and side.stat().st_mtime_ns != before:
            with contextlib.suppress(ValueError):
                doc = json.loads(side.read_text(encoding="utf-8"))
                took = time.time() - sent.at
                say(f"sidecar after {took:.2f} s: {os.path.relpath(side)}\n")
                say(json.dumps(doc, indent=2, ensure_ascii=False))
                say_interpreter(state)
                return
        time.sleep(0.05)
    say(f"no sidecar {side} after 30 s; the failure queue says:")
    sqs = client("sqs", state["endpoint"])
    url = str(outputs.get("failure_queue_url", ""))
    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get(
        "Messages", []
    ):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            record = json.loads(m["Body"])
            error = record["responsePayload"]
            about = record["requestPayload"]["Records"][0]["Sns"]["Message"]
            say(
                f"  {about}: {error['errorType']}: {error['errorMessage']} "
                f"({record['requestContext']['condition']}, "
                f"{record['requestContext']['approximateInvokeCount']} attempts)"
            )
            continue
        say(f"  {m['Body']}")
    raise SystemExit(1)


def say_interpreter(state: dict[str, Any]) -> None:
    """Which Python ran the function (Lambda runs the runtime's; here, one of this machine's)."""
    root = Path(state["lambda_root"]) if state.get("lambda_root") else None
    log = ROOT / "localstack" / "localstack.log"
    for choice in function_interpreters(root, log):
        say(f"\nthe Python that ran the function: {choice}")


def status() -> None:
    pid = keeper_pid()
    if not pid or not STATE.exists():
        say("the demo is not running")
        return
    state = load(STATE)
    say(f"running (keeper pid {pid}); LocalStack {state['endpoint']}, executor {state['executor']}")
    if DEPLOYMENT.exists():
        say(f"deployment: {DEPLOYMENT.read_text()}")


def down(quiet: bool = False) -> None:
    pid = keeper_pid()
    state = load(STATE) if STATE.exists() else None
    if pid:
        stop_process_group(pid, grace=40)
    # Should the keeper have died without cleaning up: its servers' pid files.
    if state:
        with contextlib.suppress(OSError, ValueError):
            stop_process_group(int(Path(state["localstack_pidfile"]).read_text()), grace=20)
        with contextlib.suppress(OSError, ValueError):
            ganesha = int(Path(state["nfs"]["pidfile"]).read_text())
            os.kill(ganesha, signal.SIGTERM)
            for _ in range(50):
                os.kill(ganesha, 0)  # raises once it is gone
                time.sleep(0.2)
            os.kill(ganesha, signal.SIGKILL)
        if state.get("lambda_root"):
            shutil.rmtree(state["lambda_root"], ignore_errors=True)
    shutil.rmtree(ROOT, ignore_errors=True)
    if not quiet:
        say("demo stopped" if pid else "the demo was not running; .tmp/demo removed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.demo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up")
    sub.add_parser("serve")
    sub.add_parser("status")
    sub.add_parser("down")
    pub = sub.add_parser("publish")
    pub.add_argument("file", help="path in the export, e.g. demo/other/file.bin")
    pub.add_argument("results", nargs="?", default="{}", help="results JSON (default {})")
    args = parser.parse_args(argv)
    if args.command == "publish":
        publish_one(args.file, json.loads(args.results))
    else:
        {"up": up, "serve": serve, "status": status, "down": down}[args.command]()


if __name__ == "__main__":
    main()

"""The real run: the x86_64 zip, unpacked into an empty folder, writes a sidecar over real NFS.

As in Lambda: the handler is imported from the unpacked folder by a bare interpreter (`python3 -I
-S`: no site packages, no PYTHONPATH), in an empty environment but for PATH and the function's
NFS_* settings (no LD_LIBRARY_PATH), as an unprivileged user (nobody). This machine's own libnfs is
hidden from the process (a /dev/null bind mount in a private mount namespace), so only the zip's
lib/libnfs.so.17 can serve it; the process's memory map shows which file was loaded.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import subprocess
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.nfs_server import NfsServer

# Readable by nobody (pyenv's interpreters live under /root, which is not).
PYTHON = "/usr/bin/python3"
UNPRIVILEGED_USER = "nobody"


@pytest.fixture(autouse=True)
def _needs() -> None:
    """What these tests need is required, not optional: fail saying how to get it."""
    if os.geteuid() != 0:
        pytest.fail("needs root: runuser, unshare and the NFS server (run the tests as root)")
    if not Path(PYTHON).is_file():
        pytest.fail(f"{PYTHON} not found: apt-get install python3")


# Runs in the child: calls the handler the way the Lambda runtime does, then reports what it saw.
CHILD = r"""
import json, os, stat, sys
task, event, system_libs = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
os.chdir(task)
sys.path.insert(0, task)
import lambda_function

class Context:
    function_name = "nfs-sidecar"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:nfs-sidecar"
    memory_limit_in_mb = 128
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/nfs-sidecar"
    log_stream_name = "test"
    def get_remaining_time_in_millis(self):
        return 30000

result = lambda_function.lambda_handler(event, Context())
from nfs_sidecar.nfs import libnfs
with open("/proc/self/maps") as maps:
    mapped = sorted({line.split()[-1] for line in maps if "libnfs" in line})
print(json.dumps({
    "result": result,
    "libnfs_loaded": libnfs.loaded_library_path(),
    "libnfs_mapped": mapped,
    "system_libs_hidden": {p: stat.S_ISCHR(os.stat(p).st_mode) for p in system_libs},
    "uid": os.getuid(),
}, default=repr))
"""


def unpack(zip_path: Path, into: Path) -> None:
    """Unpacks keeping each entry's permissions (as Lambda does with /var/task)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = into / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.parent.chmod(0o755)
            target.write_bytes(zf.read(info))
            target.chmod(stat.S_IMODE(info.external_attr >> 16))


def system_libnfs_files() -> list[str]:
    """This machine's libnfs.so* files, the real files behind the links: those in the dynamic
    loader's cache and in the usual library folders."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    cache = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    found = [line.split(" => ")[-1] for line in cache.splitlines() if "libnfs.so" in line]
    for folder in ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"):
        found += glob.glob(f"{folder}/libnfs.so*") + glob.glob(f"{folder}/*-linux-gnu/libnfs.so*")
    return sorted({os.path.realpath(p) for p in found if os.path.isfile(p)})


def sns_event(filename: str, results: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:results:1",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:results",
                    "Subject": None,
                    "Timestamp": "2026-11-24T19:00:00.000Z",
                    "Message": json.dumps({"filename": filename, "results": results}),
                    "MessageAttributes": {},
                },
            }
        ]
    }


@pytest.fixture
def task_dir(host_zips: dict[str, Path]) -> Iterator[Path]:
    """The x86_64 zip unpacked into an empty folder that nobody can read (not under pytest's
    tmp_path, which is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="nfs-sidecar-task-"))
    path.chmod(0o755)
    unpack(host_zips["x86_64"], path)
    yield path
    shutil.rmtree(path)


def test_unpacked_zip_writes_a_sidecar_as_an_unprivileged_user(
    task_dir: Path, nfs_server: NfsServer
) -> None:
    export = nfs_server.open
    folder = f"zip-run-{uuid.uuid4().hex[:8]}"
    (export.local / folder).mkdir()
    (export.local / folder).chmod(0o777)  # the function writes as an unprivileged user
    data = b"measured data\n" * 1000
    (export.local / folder / "scan.txt").write_bytes(data)
    results = {"score": 0.93, "labels": ["ok"]}
    filename = f"{folder}/scan.txt"

    event = sns_event(filename, results)
    hidden = system_libnfs_files()
    env = {
        "PATH": "/usr/bin:/bin",
        "NFS_SERVER": nfs_server.host,
        "NFS_EXPORT": export.path,
        "NFS_PORT": str(nfs_server.nfs_port),
        "NFS_MOUNT_PORT": str(nfs_server.mount_port),
        "NFS_TIMEOUT_MS": "10000",
    }
    child = [
        "runuser", "-u", UNPRIVILEGED_USER, "--",
        "env", "-i", *(f"{k}={v}" for k, v in env.items()),
        PYTHON, "-I", "-S", "-c", CHILD,
        str(task_dir), json.dumps(event), json.dumps(hidden),
    ]  # fmt: skip
    # A private mount namespace in which every system libnfs file reads as /dev/null.
    hide_then_run = 'for f in $HIDE; do mount --bind /dev/null "$f"; done; exec "$@"'
    command = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec"]
    command += [hide_then_run, "sh", *child]
    run = subprocess.run(
        command,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HIDE": " ".join(hidden)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    report = json.loads(run.stdout.strip().splitlines()[-1])

    # It ran unprivileged, on the zip's own libnfs, with this machine's out of reach.
    bundled = str(task_dir / "lib" / "libnfs.so.17")
    assert report["uid"] != 0
    assert report["libnfs_loaded"] == bundled
    assert report["libnfs_mapped"] == [bundled]
    assert all(report["system_libs_hidden"].values()), report["system_libs_hidden"]

    # The sidecar is beside the file, and tells its name, its size and the results.
    sidecar = export.local / folder / "scan-sidecar.json"
    assert sidecar.is_file(), f"no {sidecar.name}; handler returned {report['result']}"
    document = json.loads(sidecar.read_text())
    assert document["filename"] == filename
    assert document["size"] == len(data)
    assert document["results"] == results
    assert document["source"]["sns_message_id"] == event["Records"][0]["Sns"]["MessageId"]

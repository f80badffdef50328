"""Writers killed with SIGKILL at each step of the write protocol, as Lambda's timeout or an
out-of-memory kill would: the sidecar is complete or absent (a previous one intact), and later
writers remove the temp file and lock the dead one left.

Each writer runs in a child process through the fault proxy, warm (mounted, its folder cached),
and is killed at one call of its next write, in one of two ways:

- ``before``: as the call reaches the proxy; the server never gets it;
- ``after``: once the server has done it, before the writer hears back.

Once everything left is older than ``lock_stale_seconds`` (on the server's clock; ctimes cannot
be set back, so the test waits), a later writer writes two other files into the folder: its
sweep alone must remove what was left (neither write touches that sidecar nor its lock). Then a
newer notification for the killed writer's file is written as usual.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nfs_sidecar.handler import Handler
from tests.fault_proxy import Fault, FaultProxy
from tests.function.helpers import (
    FUNCTION_DIR,
    PROTOCOL_CALLS,
    PROTOCOL_ROUND_TRIPS,
    handler_for,
    leftovers,
    sns_event,
)
from tests.nfs_server import NfsServer

REPO = Path(__file__).resolve().parents[2]
STALE_S = 5  # the later writers' lock_stale_seconds
# The calls of each path after the first LOOKUP (killed there, the writer dies as at the CREATE
# that shares its round trip).
PATHS = {path: calls[1:] for path, calls in PROTOCOL_CALLS.items()}
WHAT = {
    ("new", "CREATE#1"): "CREATE tmp",
    ("new", "LOOKUP#2"): "LOOKUP sidecar",
    ("new", "LOOKUP#3"): "LOOKUP folder",
    ("new", "REMOVE#1"): "REMOVE tmp",
    ("replace", "CREATE#1"): "CREATE tmp",
    ("replace", "LOOKUP#2"): "LOOKUP sidecar",
    ("replace", "LOOKUP#3"): "LOOKUP folder",
    ("replace", "CREATE#2"): "CREATE lock",
    ("replace", "LOOKUP#4"): "LOOKUP sidecar",
    ("replace", "REMOVE#1"): "REMOVE lock",
}
WHEN = {"before": "hook_swallow", "after": "hook_on_reply"}
CELLS = [(path, call, when) for path, calls in PATHS.items() for call in calls for when in WHEN]
NEW_RESULTS = {"new": "new", "replace": "second"}

# The writer: warm-up writes, then "ready"; on a line from the test, the write it is killed in.
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from nfs_sidecar.nfs import libnfs
libnfs.load_libnfs(sys.argv[2])
from nfs_sidecar.config import Config
from nfs_sidecar.handler import Handler
handler = Handler(Config(**json.loads(sys.argv[3])))
for event in json.loads(sys.argv[4]):
    handler(event)
# The warm-up's last removal is sent without waiting: see it through the proxy before "ready",
# or the fault armed next could hit it instead of the write under test.
in_flight = handler._writer.in_flight()
if in_flight:
    handler._writer.client.wait(*in_flight)
print("ready", flush=True)
sys.stdin.readline()
handler(json.loads(sys.argv[5]))
print("done", flush=True)
sys.stdin.readline()
"""


@dataclass
class Crash:
    folder: Path
    applied: list[tuple[str, int, str]]
    returncode: int | None
    sidecar: object  # its results; None when absent
    left: list[str]  # "tmp" and "lock", as found right after the kill
    after: str = "not run"


def expected(path: str, call: str, when: str) -> list[tuple[object, list[str]]]:
    """The sidecar and what is left, from the calls the server carried out: those before the
    kill, and any of those sent after it in the same round trip (sent together, they may have
    reached the server before the proxy closed its connection at the kill)."""
    calls = PATHS[path]
    trip = next(t for t in PROTOCOL_ROUND_TRIPS[path] if call in t)
    done = calls[: calls.index(call)] + ([call] if when == "after" else [])
    maybe = trip[trip.index(call) + 1 :]
    outcomes = []
    for extra in itertools.chain.from_iterable(
        itertools.combinations(maybe, n) for n in range(len(maybe) + 1)
    ):
        outcome = _outcome(path, set(done) | set(extra))
        if outcome not in outcomes:
            outcomes.append(outcome)
    return outcomes


def _outcome(path: str, done: set[str]) -> tuple[object, list[str]]:
    if path == "new":
        sidecar = "new" if "LINK#1" in done else None
        tmp = "CREATE#1" in done and "REMOVE#1" not in done
        lock = False
    else:
        sidecar = "second" if "RENAME#1" in done else "first"
        tmp = "CREATE#1" in done and "RENAME#1" not in done
        lock = "CREATE#2" in done and "REMOVE#1" not in done
    return sidecar, ["lock"] * lock + ["tmp"] * tmp


def results(folder: Path) -> object:
    path = folder / "f-sidecar.json"
    return json.loads(path.read_text())["results"] if path.exists() else None  # never partial


def kinds(folder: Path) -> list[str]:
    names = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    kind = {".lock": "lock", ".tmp": "tmp"}
    return sorted(kind.get(Path(n).suffix, n) for n in names)


def killer(child: subprocess.Popen[str]) -> Callable[[], None]:
    def kill() -> None:
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and state(child.pid) not in ("Z", None):
            time.sleep(0.005)  # dead, then a zombie until the test reaps it

    return kill


def state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return None


def read_until(child: subprocess.Popen[str], line: str, seconds: float = 60) -> None:
    """Reads the child's output (its log lines, then ``line``) straight from the pipe."""
    assert child.stdout is not None
    fd, seen = child.stdout.fileno(), b""
    deadline = time.monotonic() + seconds
    while (line.encode() + b"\n") not in seen.splitlines(keepends=True):
        assert time.monotonic() < deadline, f"the writer did not say {line!r} within {seconds} s"
        if select.select([fd], [], [], 0.1)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"the writer exited before {line!r}: {seen[-2000:]!r}"
            seen += chunk


def crash(
    nfs_server: NfsServer, proxy: FaultProxy, library: Path, path: str, call: str, when: str
) -> Crash:
    procedure, occurrence = call.split("#")
    folder = nfs_server.open.local / f"crash-{path}-{procedure}{occurrence}-{when}"
    folder.mkdir()
    for name in ("f", "w", "g", "h"):
        (folder / f"{name}.bin").write_bytes(name.encode())
    name = f"{folder.name}/f.bin"
    config = {
        "server": nfs_server.host,
        "export": nfs_server.open.path,
        "nfs_port": proxy.nfs_port,
        "mount_port": proxy.mount_port,
        "timeout_ms": 3000,
        "lock_stale_seconds": 120,
    }
    warm = [sns_event(f"{folder.name}/w.bin", "warm")]
    if path == "replace":
        warm.append(sns_event(name, "m-1", "2026-11-24T10:00:00Z", results="first"))
    target = sns_event(name, "m-2", "2026-11-24T11:00:00Z", results=NEW_RESULTS[path])
    proxy.disarm()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(FUNCTION_DIR), str(library)]
        + [json.dumps(value) for value in (config, warm, target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        read_until(child, "ready")
        proxy.arm(Fault(f"NFS.{procedure}", WHEN[when], int(occurrence), hook=killer(child)))
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    applied = list(proxy.applied)
    proxy.disarm()
    return Crash(folder, applied, child.returncode, results(folder), kinds(folder))


def all_stale(folders: list[Path]) -> bool:
    now = time.time()
    for folder in folders:
        for p in folder.iterdir():
            if p.name.endswith((".tmp", ".lock")):
                st = p.stat()
                if now - max(st.st_ctime, st.st_mtime) <= STALE_S + 0.5:
                    return False
    return True


@pytest.fixture(scope="module")
def crashes(nfs_server: NfsServer, bundled_libnfs: Path) -> Iterator[dict[tuple, Crash]]:
    found = {}
    with FaultProxy(nfs_server.host, nfs_server.nfs_port, nfs_server.mount_port) as proxy:
        for cell in CELLS:
            found[cell] = crash(nfs_server, proxy, bundled_libnfs, *cell)
    # Later writers come once what was left is older than their lock_stale_seconds.
    deadline = time.monotonic() + 120
    while not all_stale([c.folder for c in found.values()]):
        assert time.monotonic() < deadline, "leftovers did not age"
        time.sleep(0.1)
    yield found
    write_table(found)


@pytest.fixture(scope="module")
def later(nfs_server: NfsServer) -> Iterator[Handler]:
    handler = handler_for(nfs_server, lock_stale_seconds=STALE_S)
    yield handler
    handler.disconnect()


def write_table(found: dict[tuple, Crash]) -> None:
    lines = [
        "| path | killed at | when | sidecar | left | after later writers |",
        "|---|---|---|---|---|---|",
    ]
    for (path, call, when), c in found.items():
        what = WHAT.get((path, call), call.split("#")[0])
        left = " + ".join(c.left) or "nothing"
        lines.append(f"| {path} | {what} | {when} | {c.sidecar} | {left} | {c.after} |")
    text = "\n".join(lines) + "\n"
    out = REPO / ".tmp" / "crash-matrix.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print("\n" + text)


@pytest.mark.parametrize(("path", "call", "when"), CELLS)
def test_a_killed_writer_leaves_a_complete_sidecar_or_none(
    crashes: dict[tuple, Crash], path: str, call: str, when: str
) -> None:
    c = crashes[(path, call, when)]
    procedure, occurrence = call.split("#")
    assert c.applied == [(f"NFS.{procedure}", int(occurrence), WHEN[when])]
    assert c.returncode == -signal.SIGKILL
    # Complete (it parsed), the previous one intact, or absent; and what was left.
    assert (c.sidecar, c.left) in expected(path, call, when)


@pytest.mark.parametrize(("path", "call", "when"), CELLS)
def test_later_writers_remove_what_a_killed_writer_left(
    crashes: dict[tuple, Crash], later: Handler, path: str, call: str, when: str
) -> None:
    c = crashes[(path, call, when)]
    folder = c.folder
    # Two writes of other files: only their sweep can remove the dead writer's names.
    later(sns_event(f"{folder.name}/g.bin", "m-g"))
    later(sns_event(f"{folder.name}/h.bin", "m-h"))
    assert leftovers(folder) == []
    assert results(folder) == c.sidecar  # the sidecar untouched (a temp name linked to it too)
    later(sns_event(f"{folder.name}/f.bin", "m-3", "2026-11-24T12:00:00Z", results="third"))
    assert results(folder) == "third"
    assert leftovers(folder) == []
    c.after = "all removed, next write ok"

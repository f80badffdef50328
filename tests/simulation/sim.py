"""A deterministic simulation of the write protocol: many writers, one model server, one seed.

The function's own code runs unchanged: each execution environment is a real ``Handler`` whose
conversations (``Handler.write_all``) are carried out here against the model server
(model.py) instead of libnfs. A seeded scheduler decides, step by step, which call the server
carries out next, which reply arrives, when time passes, and which fault strikes:

- replies delayed and reordered (any call in flight may be carried out or answered next), a call
  or a reply lost (the writer times out), connections dropped (each call in flight carried out
  or not), writers killed at any step (Lambda's timeout, out of memory);
- the server busy (NFS3ERR_JUKEBOX) or full (NFS3ERR_NOSPC), without hard links (LINK answers
  NFS3ERR_NOTSUPP); clients' clocks skewed from the server's (and from each other);
- users at work: folders replaced by rename (``mv d d.old; mv d.new d``), files replaced, the
  export's root handle gone stale, files that are not ours at sidecar names, names of our
  shapes that are folders or hold a '/'.

After every step that changed the server the invariants are checked (``Violation`` names the
broken one), and once every writer is done, after the stale period, fresh writes into every
folder must leave no leftover behind and warm environments must still write.

Assumption (what a real NFSv3 server over TCP gives): a call the server received on a connection
that then dropped is carried out at once or never, not later on, after the client reconnected.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nfs_sidecar import retry
from nfs_sidecar.config import Config
from nfs_sidecar.handler import Handler, Usage
from nfs_sidecar.message import Notification, sidecar_location
from nfs_sidecar.nfs import backoff
from nfs_sidecar.nfs.conversation import Sleep
from nfs_sidecar.nfs.engine import Pending
from nfs_sidecar.nfs.errors import NfsConnectionError, NfsError, NfsStatusError, NfsTimeout
from nfs_sidecar.nfs.xdr import JUKEBOX, NF3DIR, NF3REG, NOSPC, NOT_SYNC
from nfs_sidecar.retry import Budget
from nfs_sidecar.sidecar import Outcome, SidecarWriter
from nfs_sidecar.sweep import leftover_kind

from .model import Inode, Server, Status

SUFFIX = "-sidecar.json"
FOLDERS = ("", "d", "d/e")
SERVER_FAULTS = ("jukebox", "nospc", "not_sync")  # drawn elsewhere than _faults
# How far time moves in a step where it may: mostly a little, or up to the next timer (a reply
# that does not come: a timeout; a writer's sleep ends), or an idle spell.
TIME_STEPS = (0.0005,) * 4 + (0.002,) * 4 + (0.01,) * 4 + (0.05,) * 3 + (1e9,) * 4 + (4.0,)
TIMEOUT_MS = 400
FUNCTION_TIMEOUT_S = 4.0
LOCK_STALE_S = 10
MAX_STEPS = 4000
MAX_KILLS = 3  # Lambda tries an event 3 times
MAX_CALLS_PER_NOTE = 120
EPOCH = datetime(2026, 12, 1, tzinfo=UTC)


USER = ("user",)


class Violation(AssertionError):
    """An invariant of the protocol does not hold; ``kind`` names which."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"[{kind}] {message}")
        self.kind = kind


class Chooser:
    """Every decision of a schedule, drawn from a seed or replayed from a list (when shrinking:
    past its end every choice is 0, which means "the least eventful")."""

    def __init__(self, seed: int, replay: list[int] | None = None, keep: bool = False) -> None:
        self.random = random.Random(seed).random
        self.replay = replay
        self.keep = keep or replay is not None  # what was chosen, to shrink it (costs time)
        self.made: list[int] = []

    def below(self, n: int) -> int:
        if n <= 1:
            return 0
        if self.replay is None:
            value = int(self.random() * n)
        else:
            i = len(self.made)
            value = self.replay[i] % n if i < len(self.replay) else 0
        if self.keep:
            self.made.append(value)
        return value

    def chance(self, per_mille: int) -> bool:
        return self.below(1000) >= 1000 - per_mille

    def pick(self, items: list[Any]) -> Any:
        return items[self.below(len(items))]


class SimPending(Pending):
    """A call in flight on the simulation's network: the engine's Pending, carried by the
    scheduler instead of libnfs."""

    __slots__ = ("procedure",)

    def __init__(self, engine: SimClient, what: str, procedure: str, args: tuple) -> None:
        super().__init__(engine, what, procedure, None, (), None, None)  # type: ignore[arg-type]
        self.procedure, self.args = procedure, args  # type: ignore[assignment]
        self.sends = 1


@dataclass(eq=False)
class Flight:
    client: SimClient
    pending: SimPending
    caller: tuple
    replied: bool = False
    reply: object = None  # the value, or a Status


class SimClient:
    """What NfsClient offers the writer, over the simulation's network."""

    def __init__(self, sim: Simulation, env: Env) -> None:
        self.sim, self.env = sim, env
        self.server = "model"
        self.broken: str | None = None
        self.deadline: float | None = None
        self.timeout_ms = TIMEOUT_MS
        self.rpc_count = self.round_trips = self.resends = 0
        self.waited_s = 0.0  # simulated time is not blocked on
        self.root = sim.server.root.handle  # the mount: the export root's handle now
        self.writemax = self.readmax = sim.io_size
        self._unwaited: list[SimPending] = []

    def _send(self, what: str, procedure: str, *args: object) -> SimPending:
        if self.broken:
            raise NfsConnectionError(f"{what}: connection unusable ({self.broken})")
        pending = SimPending(self, what, procedure, args)
        self.rpc_count += 1
        self.sim.flights.append(Flight(self, pending, self.env.caller))
        return pending

    def lookup(self, dir_fh: bytes, name: str) -> SimPending:
        return self._send(f"LOOKUP {name}", "lookup", dir_fh, name)

    def create(
        self,
        dir_fh: bytes,
        name: str,
        mode: int = 0o644,
        exclusive: bool = True,
        atime_s: int | None = None,
    ) -> SimPending:
        return self._send(f"CREATE {name}", "create", dir_fh, name, atime_s)

    def write(self, fh: bytes, offset: int, data: bytes) -> SimPending:
        return self._send(f"WRITE {len(data)} bytes", "write", fh, offset, data)

    def read(self, fh: bytes, offset: int, count: int) -> SimPending:
        return self._send(f"READ {count} bytes", "read", fh, offset, count)

    def rename(self, from_dir: bytes, from_name: str, to_dir: bytes, to_name: str) -> SimPending:
        return self._send(
            f"RENAME {from_name} -> {to_name}", "rename", from_dir, from_name, to_dir, to_name
        )

    def link(self, fh: bytes, dir_fh: bytes, name: str) -> SimPending:
        return self._send(f"LINK {name}", "link", fh, dir_fh, name)

    def touch_if_unchanged(self, fh: bytes, ctime_ns: int) -> SimPending:
        return self._send("SETATTR mtime (guarded)", "setattr_guarded", fh, ctime_ns)

    def readdirplus(self, dir_fh: bytes, cookie: int, verifier: bytes, maxcount: int) -> SimPending:
        return self._send("READDIRPLUS", "readdirplus", dir_fh, cookie)

    def remove(self, dir_fh: bytes, name: str) -> SimPending:
        return self._send(f"REMOVE {name}", "remove", dir_fh, name)

    def send_without_waiting(self, *calls: SimPending, report: bool = True) -> None:
        if report:
            self._unwaited.extend(calls)

    def take_unwaited_errors(self) -> list[NfsError]:
        done = [call for call in self._unwaited if call.done]
        self._unwaited = [call for call in self._unwaited if not call.done]
        return [call.error for call in done if call.error is not None]

    def close(self) -> None:
        self.broken = self.broken or "closed"
        self.sim.settle(self)


class SimHandler(Handler):
    def __init__(self, sim: Simulation, env: Env) -> None:
        config = Config(
            server="model", export="/e", timeout_ms=TIMEOUT_MS, lock_stale_seconds=LOCK_STALE_S
        )
        super().__init__(config)
        self.sim, self.env = sim, env

    def log(self, level: str, **fields: Any) -> None:
        pass

    def connect(self, budget: Budget | None) -> SimClient:  # type: ignore[override]
        self.sim.trace(f"{self.env.name} mounts")
        return SimClient(self.sim, self.env)

    def make_writer(self, client: SimClient) -> SidecarWriter:  # type: ignore[override]
        sim, env = self.sim, self.env
        return sim.writer_class(
            client,  # type: ignore[arg-type]
            SUFFIX,
            LOCK_STALE_S,
            self._orphans,
            clock=sim.clock,
            token=lambda: f"{next(sim.tokens):08x}",  # unique, as 32 random bits are
            wall_ns=lambda: int((sim.now + sim.server_offset_s + env.skew_s) * 1e9),
        )


@dataclass(eq=False)
class Env:
    """An execution environment: one Handler, warm across its invocations."""

    name: str
    skew_s: float  # its clock minus the server's
    batches: list[list[Notification]]
    handler: SimHandler | None = None
    invocation: int = 0
    running: Any = None  # the conversation of the invocation under way
    notes: list[Notification] = field(default_factory=list)
    usages: list[Usage] = field(default_factory=list)
    started: float = 0.0
    step: Any = None  # what it waits for: a tuple of calls, or a Sleep's end (float)
    since: float = 0.0
    dead: bool = False
    outcomes: list[Outcome | Exception] = field(default_factory=list)

    @property
    def caller(self) -> tuple:
        return (self.name, self.invocation)


class Simulation:
    def __init__(
        self,
        seed: int,
        replay: list[int] | None = None,
        writer_class: type[SidecarWriter] = SidecarWriter,
        record: bool = False,
        only: frozenset[str] | None = None,
    ) -> None:
        self.seed = seed
        self.choose = Chooser(seed, replay, keep=record)
        self.writer_class = writer_class
        self.record = record
        # The features of the world and its faults this schedule may have (None: all of them).
        self.only = only
        self.log: list[str] = []
        self.now = 1000.0
        self.steps = 0
        c = self.choose
        self.server_offset_s = 1.8e9 + c.below(1000)
        self.server = Server(lambda: int((self.now + self.server_offset_s) * 1e9))
        self.server.hard_links = not (self.may("no_links") and c.chance(150))
        self.io_size = 64 if c.chance(100) else 4096  # small: a sidecar in several WRITEs
        self.flights: list[Flight] = []
        self.tokens = itertools.count(1)  # temp names: unique whatever the choices
        self.quiet = False
        self.kills = 0
        self.envs: list[Env] = []
        self.acked: dict[tuple[int, str], tuple[tuple[str, str], str]] = {}
        # path -> [(since when, folder fileid)]: which folder was at the path when
        self.folder_history: dict[str, list[tuple[float, int]]] = {}
        self._documents: dict[tuple[int, int], dict[str, Any]] = {}
        self.notes_made = 0
        # fault rates for this schedule, per mille per step (0: that fault is off)
        rate = lambda most: c.pick([0, 0, 1, most])  # noqa: E731
        self.rates: dict[str, int]
        self.rates = {
            "lose": rate(20),
            "drop": rate(15),
            "kill": rate(8),
            "swap": rate(10),
            "replace": rate(10),
            "stale_root": rate(4),
            "jukebox": rate(30),
            "nospc": rate(20),
            "not_sync": c.pick([0, 0, 0, 0, 1000]),  # a server whose guarded SETATTR never passes
        }
        self.rates = {kind: r if self.may(kind) else 0 for kind, r in self.rates.items()}
        self._server_faults = sum(self.rates[kind] for kind in SERVER_FAULTS)
        self._fault_total = sum(v for k, v in self.rates.items() if k not in SERVER_FAULTS)
        self.server.fault = self._fault
        self.server.on_change = self._on_change
        backoff.random = random.Random(seed)  # type: ignore[assignment]  # backoff's jitter
        self._build_world()

    def may(self, feature: str) -> bool:
        return self.only is None or feature in self.only

    # --- the world: folders, files, notifications ---

    def trace(self, text: str) -> None:
        if self.record:
            self.log.append(f"{self.now - 1000:9.4f}s  {text}")

    def clock(self) -> float:
        return self.now

    def _build_world(self) -> None:
        c, server = self.choose, self.server
        root = server.root
        d = server.make(root, "d", NF3DIR)
        files = ["x.bin", "d/x.bin", "d/y.bin", "d/e/z.bin"]
        server.make(root, "x.bin", NF3REG, b"x")
        server.make(d, "x.bin", NF3REG, b"dx")
        server.make(d, "y.bin", NF3REG, b"dy")
        server.make(server.make(d, "e", NF3DIR), "z.bin", NF3REG, b"dez")
        if self.may("collision") and c.chance(300):  # two files, one sidecar name (seed's naming)
            server.make(d, "y.csv", NF3REG, b"dycsv")
            files.append("d/y.csv")
        if self.may("user_files") and c.chance(250):  # a file of the user's at a sidecar's name
            server.make(root, "x" + SUFFIX, NF3REG, b"mine, not JSON")
        if self.may("odd_names") and c.chance(200):  # a folder of the user's with a lock's name
            server.make(d, ".x" + SUFFIX + ".lock", NF3DIR)
        if self.may("odd_names") and c.chance(100):  # a name no server should list: '/' in it
            server.make(d, "../.x" + SUFFIX + ".lock", NF3REG)
        for path in FOLDERS:
            self.folder_history[path] = [(0.0, server.path(path).fileid)]  # type: ignore[union-attr]
        self.files = files
        skews = [0.0, 0.0, -5.0 * LOCK_STALE_S, 5.0 * LOCK_STALE_S] if self.may("skew") else [0.0]
        for e in range(1 + c.below(3)):
            skew = c.pick(skews)
            batches = []
            for _ in range(1 + c.below(2)):
                batches.append([self._note(c.pick(files)) for _ in range(1 + c.below(3))])
            self.envs.append(Env(f"w{e}", skew_s=skew, batches=batches))

    def _note(self, filename: str, later: bool = False) -> Notification:
        self.notes_made += 1
        seconds = 3600 + self.notes_made if later else self.choose.below(4)
        published = EPOCH + timedelta(seconds=seconds)
        message_id = f"m{self.choose.below(100):02d}-{self.notes_made}"
        return Notification(filename, {"n": self.notes_made}, message_id, "topic", published)

    # --- the server's side: faults and invariants ---

    def _fault(self, procedure: str) -> int | None:
        if not self._server_faults:
            return None
        draw = self.choose.below(1000)
        if draw < self.rates["jukebox"]:
            return JUKEBOX
        if procedure in ("create", "write") and draw >= 1000 - self.rates["nospc"]:
            return NOSPC
        if procedure == "setattr_guarded" and draw < self.rates["not_sync"]:
            return NOT_SYNC
        return None

    def _live(self, owner: tuple) -> bool:
        """Whether the invocation that made something is still running."""
        for env in self.envs:
            if env.name == owner[0]:
                return not env.dead and env.running is not None and env.invocation == owner[1]
        return False

    def _on_change(
        self,
        procedure: str,
        inode: Inode | None,
        folder: Inode | None,
        name: str | None,
        caller: tuple,
    ) -> None:
        if name is not None and ("/" in name or "\n" in name or name in (".", "..")):
            raise Violation("names", f"{caller[0]} sent a {procedure} of the name {name!r}")
        if inode is not None and inode.owner == USER:
            if procedure in ("remove", "replace", "write", "setattr"):
                raise Violation(
                    "not-ours", f"{caller[0]} {procedure}d {name or 'a file'}, not ours"
                )
        elif (
            procedure == "remove"
            and inode is not None
            and inode.owner[:2] != caller[:2]
            and self._live(inode.owner)
        ):
            raise Violation(
                "removed-live",
                f"{caller[0]} removed {name}, made by {inode.owner[0]} still at work on it",
            )
        if procedure == "setattr" and inode is not None:
            inode.owner = caller  # a lock taken over
        if procedure == "rename" and name is not None and name.endswith(SUFFIX):
            lock = folder.entries.get(f".{name}.lock") if folder else None
            holder = self.server.inodes[lock].owner if lock is not None else None
            if holder is None or holder[:2] != caller[:2]:
                raise Violation(
                    "mutual-exclusion",
                    f"{caller[0]} replaced {name} without holding its lock (held by {holder})",
                )
        if procedure in ("rename", "link") and name is not None and name.endswith(SUFFIX):
            self._complete(inode, name)  # type: ignore[arg-type]
        self.check_acked()

    def _complete(self, inode: Inode, name: str) -> dict[str, Any]:
        key = (inode.fileid, inode.ctime_ns)
        document = self._documents.get(key)
        if document is None:
            try:
                document = json.loads(inode.data)
                document["source"]["sns_message_id"]
            except (ValueError, KeyError, TypeError):
                raise Violation(
                    "complete", f"{name} is not a complete sidecar: {inode.data[:60]!r}"
                ) from None
            self._documents[key] = document
        return document  # type: ignore[return-value]

    def _sidecar(self, folder_id: int, name: str) -> dict[str, Any] | None:
        folder = self.server.inodes.get(folder_id)
        if folder is None or name not in folder.entries:
            return None
        inode = self.server.inodes[folder.entries[name]]
        if inode.owner == USER:
            return None
        return self._complete(inode, name)

    @staticmethod
    def _key(document: dict[str, Any]) -> tuple[str, str]:
        source = document["source"]
        published = datetime.fromisoformat(source["published"]).astimezone(UTC)
        return (published.isoformat(), source["sns_message_id"])

    def check_acked(self) -> None:
        """Every acknowledged notification's sidecar is there, for its file, and as new."""
        for (folder_id, name), (key, filename) in self.acked.items():
            document = self._sidecar(folder_id, name)
            if document is None:
                raise Violation("order", f"the sidecar {name} of acknowledged {key} is gone")
            if self._key(document) < key or document["filename"] != filename:
                raise Violation(
                    "order",
                    f"{name} holds {self._key(document)} for {document['filename']}, older than "
                    f"acknowledged {key} for {filename}",
                )

    def _ack(self, env: Env, note: Notification, outcome: Outcome) -> None:
        folder_path, _, name = sidecar_location(note.filename, SUFFIX)
        found = []
        history = self.folder_history[folder_path]
        during = [
            fileid
            for i, (since, fileid) in enumerate(history)
            if since <= self.now and (i + 1 == len(history) or history[i + 1][0] >= env.started)
        ]
        for folder_id in during:
            document = self._sidecar(folder_id, name)
            if (
                document is not None
                and document["filename"] == note.filename
                and self._key(document) >= note.order_key
            ):
                found.append(folder_id)
        if not found:
            raise Violation(
                "acknowledged",
                f"{env.name} acknowledged {note.order_key} for {note.filename} "
                f"({'written' if outcome.written else 'skipped'}), but no sidecar in its "
                "folder describes it as new",
            )
        key = (found[0], name)
        if key not in self.acked or self.acked[key][0] < note.order_key:
            self.acked[key] = (note.order_key, note.filename)

    # --- the network ---

    def settle(self, client: SimClient) -> None:
        """A connection ends: each call in flight is carried out now, or never."""
        for flight in [f for f in self.flights if f.client is client]:
            self.flights.remove(flight)
            if not flight.replied and self.choose.chance(500):
                self.trace(f"  {flight.caller[0]} {flight.pending.what}: carried out, no reply")
                self._execute(flight)

    def _execute(self, flight: Flight) -> None:
        p = flight.pending
        try:
            flight.reply = self.server.call(p.procedure, p.args, flight.caller)
        except Status as status:
            flight.reply = status
        flight.replied = True

    def _deliver(self, flight: Flight) -> None:
        self.flights.remove(flight)
        p = flight.pending
        p.done = True
        if isinstance(flight.reply, Status):
            p.error = NfsStatusError(p.what, flight.reply.status)
        else:
            p.value = flight.reply

    # --- the environments ---

    def _ready(self, env: Env) -> bool:
        """Whether the environment can take its next step now."""
        if env.dead:
            return False
        if env.running is None:
            return bool(env.batches)
        if isinstance(env.step, float):
            return self.now >= env.step
        if all(p.done for p in env.step):
            return True
        client = env.step[0].engine
        return bool(client.broken) or self.now >= self._timeout_at(env)

    def _timeout_at(self, env: Env) -> float:
        client = env.step[0].engine
        at = env.since + client.timeout_ms / 1000
        return min(at, client.deadline) if client.deadline is not None else at

    def _advance(self, env: Env) -> None:
        if env.running is None:
            self._start(env)
            return
        error: NfsError | None = None
        if isinstance(env.step, tuple) and not all(p.done for p in env.step):
            client = env.step[0].engine
            if client.broken:
                error = NfsConnectionError(f"model: connection lost ({client.broken})")
            else:
                client.broken = "timed out"
                error = NfsTimeout(f"{env.step[0].what}: no reply within {client.timeout_ms} ms")
            self.trace(f"{env.name} sees {error}")
        try:
            step = env.running.send(None) if error is None else env.running.throw(error)
        except StopIteration as stop:
            self._finish(env, stop.value)
            return
        self._await(env, step)

    def _await(self, env: Env, step: Any) -> None:
        if isinstance(step, Sleep):
            env.step = self.now + step.seconds
        else:
            env.step, env.since = step, self.now
            if not step:
                env.step = self.now

    def _start(self, env: Env) -> None:
        if env.handler is None:
            env.handler = SimHandler(self, env)
        env.invocation += 1
        env.notes = env.batches.pop(0)
        env.usages = [Usage() for _ in env.notes]
        env.started = self.now
        budget = Budget(FUNCTION_TIMEOUT_S - retry.MIN_MARGIN_S - 0.2, clock=self.clock)
        lock_wait = max(0.5, min(10.0, FUNCTION_TIMEOUT_S / 2))
        self.trace(f"{env.name} invocation {env.invocation}: {[n.filename for n in env.notes]}")
        env.running = env.handler.write_all(env.notes, lock_wait, env.usages, budget)
        try:
            step = next(env.running)
        except StopIteration as stop:
            self._finish(env, stop.value)
            return
        self._await(env, step)

    def _finish(self, env: Env, outcomes: list[Outcome | Exception]) -> None:
        if self.now > env.started + FUNCTION_TIMEOUT_S:
            raise Violation("budget", f"{env.name} ran {self.now - env.started:.2f} s")
        for note, outcome, usage in zip(env.notes, outcomes, env.usages, strict=True):
            if usage.nfs_calls > MAX_CALLS_PER_NOTE:
                raise Violation("calls", f"{env.name} spent {usage.nfs_calls} calls on one note")
            self.trace(f"{env.name} {note.filename} {note.order_key}: {outcome!r}")
            env.outcomes.append(outcome)
            if isinstance(outcome, Outcome):
                self._ack(env, note, outcome)
        env.running, env.step = None, None
        sweeper = env.handler._writer.sweeper if env.handler and env.handler._writer else None
        if sweeper is not None and len(sweeper.removed) > 64:
            raise Violation("memory", f"{env.name}'s sweep remembers {len(sweeper.removed)} names")

    def _kill(self, env: Env) -> None:
        self.trace(f"{env.name} killed")
        env.dead = True
        writer = env.handler._writer if env.handler else None
        if writer is not None:
            writer.client.broken = "killed"
            self.settle(writer.client)  # type: ignore[arg-type]
        # Lambda tries the notifications again, in a new environment.
        if env.running is not None:
            env.batches.insert(0, env.notes)
        env.running = None
        self.envs.append(Env(env.name + "'", env.skew_s, env.batches))

    # --- the user's hands ---

    def _swap(self) -> None:
        """``mv d d.old; mv d.new d``: a folder replaced by another holding the same names."""
        server, root = self.server, self.server.root
        old = server.path("d")
        new = server.make(root, "d.new", NF3DIR)
        for name, fileid in list(old.entries.items()):  # type: ignore[union-attr]
            if name.endswith(".bin") or name.endswith(".csv"):
                server.make(new, name, NF3REG, server.inodes[fileid].data + b"'")
        sub = server.make(new, "e", NF3DIR)
        server.make(sub, "z.bin", NF3REG, b"new dez")
        server.move(root, "d", root, f"d.old{self.steps}")
        server.move(root, "d.new", root, "d")
        self.folder_history["d"].append((self.now, new.fileid))
        self.folder_history["d/e"].append((self.now, sub.fileid))
        self.trace("user: mv d d.old; mv d.new d")

    def _replace_file(self) -> None:
        filename = self.choose.pick(self.files)
        folder_path, name = filename.rpartition("/")[::2]
        folder = self.server.path(folder_path)
        if folder is None or name not in folder.entries:
            return
        self.server.make(folder, name + ".new", NF3REG, b"new")
        self.server.move(folder, name + ".new", folder, name)
        self.trace(f"user: replaced {filename}")

    # --- the schedule ---

    def _events(self) -> list[tuple[str, Any]]:
        events: list[tuple[str, Any]] = []
        busy = waiting = False
        for env in self.envs:
            if env.dead:
                continue
            if env.running is None:
                if env.batches:
                    events.append(("env", env))
                    waiting = True
                continue
            waiting = True
            step = env.step
            if isinstance(step, float):
                ready = self.now >= step
            elif all(p.done for p in step):
                ready = True
            else:
                client = step[0].engine
                ready = bool(client.broken) or self.now >= self._timeout_at(env)
            if ready:
                events.append(("env", env))
                busy = True
        for flight in self.flights:
            if not flight.client.broken:
                events.append(("deliver" if flight.replied else "execute", flight))
        # Time passes while nobody is ready to act, or between invocations; once quiet, only
        # when no call is in flight (a healthy server answers).
        if waiting and not busy and not (self.quiet and self.flights):
            events.append(("time", None))
        return events

    def _next_timer(self) -> float | None:
        timers = []
        for env in self.envs:
            if env.dead or env.running is None:
                continue
            if isinstance(env.step, float):
                timers.append(env.step)
            elif env.step:
                timers.append(self._timeout_at(env))
        return min(timers) if timers else None

    def _faults(self) -> None:
        """At most one fault a step, each kind at its schedule's rate (one draw)."""
        draw = self.choose.below(1000)
        if draw >= self._fault_total:
            return
        kind = ""
        for candidate, rate in self.rates.items():
            if draw < rate:
                kind = candidate
                break
            draw -= rate
        c = self.choose
        if kind == "lose" and self.flights:
            flight = c.pick(self.flights)
            self.flights.remove(flight)
            what = "reply" if flight.replied else "call"
            self.trace(f"  lost: {flight.caller[0]} {flight.pending.what} ({what})")
        elif kind == "drop":
            running = [e for e in self.envs if not e.dead and e.handler and e.handler._writer]
            client = c.pick(running).handler._writer.client if running else None
            if client is not None and not client.broken:
                client.broken = "dropped"
                self.trace(f"  {client.env.name}'s connection dropped")
                self.settle(client)
        elif kind == "kill":
            alive = [e for e in self.envs if not e.dead and e.running is not None]
            if alive and self.kills < MAX_KILLS:
                self.kills += 1
                self._kill(c.pick(alive))
        elif kind == "swap":
            self._swap()
        elif kind == "replace":
            self._replace_file()
        elif kind == "stale_root":
            self.server.stale_root()
            self.trace("user: the export's root handle went stale")

    def step(self) -> bool:
        """One step; False once nothing is left to do."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Violation("steps", f"no end after {MAX_STEPS} steps")
        self._faults()
        events = self._events()
        if not events:
            return False
        kind, what = events[self.choose.below(len(events))]
        if kind == "env":
            self._advance(what)
        elif kind == "execute":
            self.trace(f"  {what.caller[0]} {what.pending.what}")
            self._execute(what)
            if self.choose.chance(700):  # answered at once; else later, maybe after others
                self._deliver(what)
        elif kind == "deliver":
            self._deliver(what)
        else:
            # A little time, a lot (an idle spell), or up to the next timer (a timeout, a sleep).
            dt = TIME_STEPS[self.choose.below(len(TIME_STEPS))]
            timer = self._next_timer()
            self.now = min(self.now + dt, timer) if timer is not None else self.now + min(dt, 4.0)
        for env in self.envs:
            if env.running is not None and self.now > env.started + FUNCTION_TIMEOUT_S:
                raise Violation("budget", f"{env.name} still at work past its timeout")
        return True

    def _quiet(self) -> None:
        """Runs with no more faults until every environment is idle."""
        self.rates = dict.fromkeys(self.rates, 0)
        self._fault_total = self._server_faults = 0
        self.quiet = True
        while self.step():
            pass

    def run(self) -> None:
        while self.step():
            pass
        self._quiet()
        # Everyone done and the stale period over: every warm environment still writes, and
        # fresh writes into every folder leave no leftover behind.
        self.now += LOCK_STALE_S + 1
        warm = [e for e in self.envs if not e.dead and e.handler is not None]
        fresh = []
        for folder_path in FOLDERS:
            folder = self.server.path(folder_path)
            name = f"z{len(self.files)}.bin"
            self.server.make(folder, name, NF3REG, b"z")  # type: ignore[arg-type]
            fresh.append(f"{folder_path}/{name}".lstrip("/"))
        self.files.extend(fresh)
        for env in [*warm[:1], Env("fresh", 0.0, [])]:
            if env not in self.envs:
                self.envs.append(env)
            env.batches.append([self._note(filename, later=True) for filename in fresh])
            self._quiet()
            for outcome in env.outcomes[-len(fresh) :]:
                if isinstance(outcome, Exception):
                    raise Violation(
                        "liveness",
                        f"{env.name} failed a fresh write once all was quiet: {outcome!r}",
                    )
        for folder_path in FOLDERS:
            folder = self.server.path(folder_path)
            for name, fileid in folder.entries.items():  # type: ignore[union-attr]
                if self.server.inodes[fileid].owner == USER:
                    continue
                if leftover_kind(name.encode(), SUFFIX) is not None:
                    raise Violation("leftover", f"{folder_path or '.'}/{name} left behind")


def run_schedule(
    seed: int,
    replay: list[int] | None = None,
    writer_class: type[SidecarWriter] = SidecarWriter,
    record: bool = False,
    only: frozenset[str] | None = None,
) -> tuple[Violation | None, Simulation]:
    sim = Simulation(seed, replay, writer_class, record, only)
    try:
        sim.run()
    except Violation as violation:
        return violation, sim
    return None, sim


def shrink(
    seed: int, writer_class: type[SidecarWriter] = SidecarWriter, budget: int = 3000
) -> tuple[list[int], Simulation, Violation]:
    """The shortest list of choices found that still breaks an invariant (of the same kind)."""
    violation, sim = run_schedule(seed, writer_class=writer_class, record=True)
    assert violation is not None
    kind = violation.kind
    choices = list(sim.choose.made)
    tries = 0

    def fails(candidate: list[int]) -> bool:
        nonlocal tries
        tries += 1
        found, _ = run_schedule(seed, candidate, writer_class)
        return found is not None and found.kind == kind

    size = max(1, len(choices) // 2)
    while size >= 1 and tries < budget:
        i = 0
        while i < len(choices) and tries < budget:
            candidate = choices[:i] + choices[i + size :]
            if fails(candidate):
                choices = candidate
            else:
                i += size
        size //= 2
    for i in range(len(choices)):
        if tries >= budget:
            break
        if choices[i]:
            candidate = [*choices[:i], 0, *choices[i + 1 :]]
            if fails(candidate):
                choices = candidate
    while choices and choices[-1] == 0:  # past the end every choice is 0 anyway
        choices.pop()
    final, sim = run_schedule(seed, choices, writer_class, record=True)
    assert final is not None
    return choices, sim, final


Check = Callable[[int], Violation | None]

"""What ``make bench`` measured, and its text and Markdown reports (pure: no NFS here, so the
README check can render a report without a server)."""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field

BATCH = 10
# The workloads run in turn, a block at a time (each has a warm handler of its own; naive mounts
# per message): label -> what it is.
MODES = {
    "direct": "new sidecar, direct (1 SNS record per invocation)",
    "batch": f"new sidecars, SQS batches of {BATCH}",
    "replace": "replacing a sidecar, direct",
    "replace-batch": f"replacing sidecars, SQS batches of {BATCH}",
    "mixed": f"half new, half replacing, SQS batches of {BATCH}",
    "naive": "new sidecar, naive (mount per message)",
}
IDLE = "idle"  # a warm environment with idle gaps: one row more per scenario
ROWS = {**MODES, IDLE: "new sidecar, direct, warm after an idle gap"}
OURS = [key for key in ROWS if key != "naive"]  # the handler's: round trips counted by its engine
# The function's own CPU, in the profiled pass: part -> what it covers.
CPU_PARTS = {
    "parse": "parse (message.py)",
    "render": "render (document.py)",
    "marshal": "NFS calls' ctypes/XDR",
    "io": "libnfs send/receive + poll",
    "log": "logging/metrics",
    "rest": "rest of Python",
}
# The scenario whose batch/direct ratio the issue sets a target for, and the target.
TARGET_ONE_WAY_MS = 1.0
TARGET_BATCH_SPEEDUP = 5.0
COLD_START_TARGET_MS = 50.0
DEFAULT_ONE_WAY_MS = (0.25, 1.0)  # the delayed scenarios of `make bench`
# Where `make bench-readme` puts the report: the Performance section, between these markers.
PERFORMANCE_DOC = "docs/design.md"
README_BEGIN = "<!-- BEGIN_BENCH -->"
README_END = "<!-- END_BENCH -->"


@dataclass
class ModeResult:
    """One workload in one scenario: each invocation's duration and records, and what it cost."""

    durations_s: list[float] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)  # NFS/MOUNT calls, by procedure
    calls_sidecars: int = 0  # the sidecars those calls (and server_s) are for
    # Over the timed invocations: waits that had to wait (the handler's engine; None: naive, whose
    # synchronous calls are a round trip each), time blocked on the network, process CPU time.
    round_trips: int | None = None
    waited_s: float | None = None
    cpu_s: float = 0.0
    server_s: float | None = None  # the proxy's view: time with a call at the server
    cpu_parts: dict[str, float] = field(default_factory=dict)  # the profiled pass's, by part

    @property
    def sidecars(self) -> int:
        return sum(self.records)

    @property
    def rate(self) -> float:
        return self.sidecars / sum(self.durations_s)

    def per_sidecar_ms(self) -> list[float]:
        """Each sidecar's latency: its invocation's duration (a batch's, for each record in it)."""
        return [
            d * 1000 for d, n in zip(self.durations_s, self.records, strict=True) for _ in range(n)
        ]

    def p(self, q: float) -> float:
        return percentile(self.per_sidecar_ms(), q)

    @property
    def calls_per_sidecar(self) -> float:
        return sum(self.calls.values()) / self.calls_sidecars

    @property
    def round_trips_per_sidecar(self) -> float:
        if self.round_trips is None:
            return self.calls_per_sidecar
        return self.round_trips / self.sidecars

    @property
    def round_trips_per_invocation(self) -> float:
        return self.round_trips_per_sidecar * self.sidecars / len(self.durations_s)

    @property
    def billed_ms_per_1000(self) -> float:
        """Lambda bills each invocation's duration rounded up to the next millisecond."""
        return sum(math.ceil(d * 1000) for d in self.durations_s) * 1000 / self.sidecars

    def mount_calls(self) -> int:
        return sum(v for k, v in self.calls.items() if k.startswith(("MOUNT.", "PORTMAP.")))

    def per_invocation(self, prefix: str) -> float:
        return sum(v for k, v in self.calls.items() if k.startswith(prefix)) / (
            self.calls_sidecars / (self.sidecars / len(self.durations_s))
        )


@dataclass
class IdleGaps:
    """How the idle-gaps row ran: a warm environment that gets a notification now and then."""

    timeout_ms: int  # its NFS_TIMEOUT_MS
    gap_s: float  # from one notification's start to the next's
    reconnects: int


@dataclass
class Scenario:
    name: str
    one_way_ms: float  # the delay the proxy adds each way (0: loopback, no proxy)
    rtt_ms: float  # measured in this scenario: median NFS NULL round trip
    rtt_calls: int
    counted: str  # where the NFS call counts come from
    modes: dict[str, ModeResult]  # by ROWS key (IDLE once the idle-gaps run is in)
    first_calls: dict[str, int] = field(default_factory=dict)  # a fresh handler's first call
    idle: IdleGaps | None = None


@dataclass
class ColdStart:
    """Fresh processes of one interpreter running the zip's contents."""

    python: str  # its version
    import_ms: list[float]  # import nfs_sidecar.handler from the zip as built (its .pyc files)
    load_ms: list[float]  # load the bundled libnfs
    mount_ms: list[float]  # the first NfsClient mount
    import_source_ms: list[float]  # the same import without the .pyc files: compiled

    def median(self, values: list[float]) -> float:
        return statistics.median(values)

    @property
    def total_ms(self) -> float:
        return statistics.median(
            a + b + c for a, b, c in zip(self.import_ms, self.load_ms, self.mount_ms, strict=True)
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def scenario_title(s: Scenario) -> str:
    if not s.one_way_ms:
        return f"loopback, round trip {s.rtt_ms:.3f} ms"
    return f"proxy +{s.one_way_ms:g} ms each way, round trip {s.rtt_ms:.2f} ms"


def ratios(s: Scenario) -> str:
    m = s.modes
    naive = m["naive"]
    return (
        f"throughput vs naive: direct {m['direct'].rate / naive.rate:.2f}x, "
        f"batch {m['batch'].rate / naive.rate:.2f}x; billed ms vs naive: "
        f"direct {m['direct'].billed_ms_per_1000 / naive.billed_ms_per_1000:.2f}, "
        f"batch {m['batch'].billed_ms_per_1000 / naive.billed_ms_per_1000:.2f}; "
        f"batch vs direct per sidecar: {m['batch'].rate / m['direct'].rate:.2f}x throughput; "
        f"replacing vs new: direct {m['replace'].rate / m['direct'].rate:.2f}x, batch "
        f"{m['replace-batch'].rate / m['batch'].rate:.2f}x throughput"
    )


def target_line(scenarios: list[Scenario]) -> str | None:
    s = next((s for s in scenarios if s.one_way_ms == TARGET_ONE_WAY_MS), None)
    if s is None:
        return None
    speedup = s.modes["batch"].rate / s.modes["direct"].rate
    verdict = "met" if speedup >= TARGET_BATCH_SPEEDUP else "not met"
    return (
        f"target: batches of {BATCH} >= {TARGET_BATCH_SPEEDUP:g}x the direct per-sidecar "
        f"throughput at +{TARGET_ONE_WAY_MS:g} ms each way: {speedup:.2f}x, {verdict}"
    )


def cold_line(colds: list[ColdStart]) -> str:
    parts = []
    for c in colds:
        verdict = "met" if c.total_ms < COLD_START_TARGET_MS else "not met"
        parts.append(
            f"Python {c.python}: import nfs_sidecar.handler {c.median(c.import_ms):.1f} ms "
            f"(without .pyc {c.median(c.import_source_ms):.1f} ms) + load libnfs "
            f"{c.median(c.load_ms):.1f} ms"
            f" + first mount {c.median(c.mount_ms):.1f} ms = {c.total_ms:.1f} ms, {verdict}"
        )
    return (
        f"cold start, target < {COLD_START_TARGET_MS:g} ms on loopback (the zip's contents, a "
        f"fresh process each, median of {len(colds[0].import_ms)}; the zip holds .pyc files for "
        f"each runtime, as /var/task is read-only: without them Lambda compiles the package at "
        f"every cold start): " + " | ".join(parts)
    )


def idle_line(scenarios: list[Scenario]) -> str:
    idle = next(s.idle for s in scenarios if s.idle is not None)
    parts = []
    for s in scenarios:
        m = s.modes[IDLE]
        parts.append(
            f"{s.name}: MOUNT calls per notification {m.per_invocation('MOUNT.'):.1f}, "
            f"reconnects {s.idle.reconnects if s.idle else 0}, NULL calls "
            f"{m.per_invocation('NFS.NULL'):.1f}"
        )
    return (
        f"idle gaps: a warm environment per scenario, {len(scenarios[0].modes[IDLE].durations_s)} "
        f"notifications, one every {idle.gap_s:g} s (2 x NFS_TIMEOUT_MS {idle.timeout_ms}; the "
        f"engine sends a NULL call along after 2 s idle): " + "; ".join(parts)
    )


def warm_line(scenarios: list[Scenario]) -> str:
    parts = [
        f"{s.name} {s.modes['direct'].mount_calls()}/{s.modes['batch'].mount_calls()}"
        for s in scenarios
    ]
    firsts = [
        f"{s.name} {sum(v for k, v in s.first_calls.items() if k.startswith('MOUNT.'))}"
        for s in scenarios
        if s.first_calls
    ]
    return (
        "warm path: MOUNT/PORTMAP calls in the measured direct/batch invocations: "
        + ", ".join(parts)
        + "; MOUNT calls in a fresh handler's first invocation: "
        + ", ".join(firsts)
    )


COLUMNS = [
    "sidecars/s",
    "p50 ms",
    "p99 ms",
    "NFS calls/sidecar",
    "round trips/sidecar",
    "round trips/invocation",
    "billed ms/1000 sidecars",
]


def row_values(m: ModeResult) -> list[str]:
    return [
        f"{m.rate:.0f}",
        f"{m.p(0.5):.2f}",
        f"{m.p(0.99):.2f}",
        f"{m.calls_per_sidecar:.1f}",
        f"{m.round_trips_per_sidecar:.2f}",
        f"{m.round_trips_per_invocation:.1f}",
        f"{m.billed_ms_per_1000:.0f}",
    ]


TIME_COLUMNS = [
    "wall us/sidecar",
    "waiting on the network",
    "at the server",
    "function CPU",
    "other",
    *(f"CPU: {label}" for label in CPU_PARTS.values()),
]


def time_values(m: ModeResult) -> list[str]:
    """Microseconds per sidecar; the CPU's parts in % (of the profiled pass's CPU)."""
    n = m.sidecars
    wall, waited, cpu = sum(m.durations_s) / n, (m.waited_s or 0.0) / n, m.cpu_s / n
    server = "" if m.server_s is None else f"{m.server_s / m.calls_sidecars * 1e6:.0f}"
    profiled = sum(m.cpu_parts.values())
    parts = [
        f"{m.cpu_parts.get(part, 0.0) / profiled * 100:.0f}%" if profiled else ""
        for part in CPU_PARTS
    ]
    return [
        f"{wall * 1e6:.0f}",
        f"{waited * 1e6:.0f}",
        server,
        f"{cpu * 1e6:.0f}",
        f"{max(0.0, wall - waited - cpu) * 1e6:.0f}",  # not below 0: clocks' noise
        *parts,
    ]


NOTES = [
    f"p50/p99 per sidecar: an invocation's duration; for a batch, the batch invocation's "
    f"duration attributed to each of its {BATCH} records.",
    "replacing: the file's sidecar exists (written beforehand, older); mixed: every other record "
    "of a batch replaces one.",
    "idle gap: a warm environment (its own handler, mounted) getting one new sidecar per gap; "
    "its first call after 2 s idle carries a NULL call (the engine's probe of a connection that "
    "may have been dropped meanwhile).",
    "round trips: the waits of the handler's engine that had to wait for a reply (a wait whose "
    "replies were all in does not count), counted over the timed invocations; per invocation: "
    "a batch's for its records together. Naive: its calls are synchronous, a round trip each.",
    "billed ms: each invocation's duration rounded up to the next millisecond, summed, per "
    "1,000 sidecars (naive: one invocation per sidecar).",
    "round trip: median of NFS NULL calls on one connection, measured in that scenario.",
]
TIME_NOTES = [
    "Where the time goes, per sidecar (microseconds) in the timed invocations: waiting on the "
    "network is the time the handler's engine was blocked in poll; at the server: the proxy's "
    "view, the time a call of that workload was at the server (from the proxy forwarding it to "
    "its reply reaching the proxy, the delay the proxy adds taken out; loopback: in the counted "
    "pass, through a pass-through proxy), which overlaps the function's CPU when calls are "
    "pipelined or not waited for (the temp name's REMOVE); function CPU: the process's CPU "
    "time; other: the rest of the wall time (runnable but not running on a busy machine).",
    "CPU parts: shares of the CPU time in a profiled pass on loopback (tests/bench/cpu_parts.py: "
    "timers around message.py's parse, document.py's render, the NFS client's calls building "
    "their ctypes arguments and the engine's reply callback decoding the results (ctypes/XDR), "
    "libnfs queueing a call (it writes it to the socket at once when none is ahead: a writev "
    "per call) and servicing the socket, and the engine's poll (send/receive + poll), the "
    "handler's log line with its metrics; the rest is the handler, the write protocol and the "
    "engine's own Python). On loopback a send also runs the server's side of TCP.",
]


def _table(title: str, columns: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
    width = max(len(label) for label, _ in rows)
    out = [title, f"  {'':{width}} " + " ".join(columns)]
    for label, values in rows:
        out.append(
            f"  {label:{width}} "
            + " ".join(f"{v:>{len(c)}}" for v, c in zip(values, columns, strict=True))
        )
    return out


def render_text(header: str, scenarios: list[Scenario], cold: list[ColdStart]) -> str:
    out = [header]
    for s in scenarios:
        title = f"{scenario_title(s)} ({s.rtt_calls} NULL calls); NFS calls {s.counted}:"
        rows = [(label, row_values(s.modes[key])) for key, label in ROWS.items()]
        out += ["", *_table(title, COLUMNS, rows), f"  {ratios(s)}"]
        by_proc = "; ".join(
            f"{key} "
            + ", ".join(f"{k} {v / m.calls_sidecars:.3g}" for k, v in sorted(m.calls.items()))
            for key, m in s.modes.items()
        )
        out.append(f"  calls per sidecar by procedure: {by_proc}")
    rows = [
        (f"{s.name}: {ROWS[key]}", time_values(s.modes[key])) for s in scenarios for key in OURS
    ]
    out += ["", *_table("where the time goes, per sidecar:", TIME_COLUMNS, rows), ""]
    if (line := target_line(scenarios)) is not None:
        out.append(line)
    out += [cold_line(cold), warm_line(scenarios), idle_line(scenarios), *NOTES, *TIME_NOTES]
    return "\n".join(out) + "\n"


def markdown_header(total: int, python: str) -> str:
    return (
        f"Generated by `make bench` (then `make bench-readme`): {total} sidecars per workload and "
        f"scenario, nfs-ganesha on the same machine, the handler run by Python {python}, the "
        f"zip's libnfs."
    )


def _markdown_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def render_markdown(header: str, scenarios: list[Scenario], cold: list[ColdStart]) -> str:
    rows = [
        [scenario_title(s), label, *row_values(s.modes[key])]
        for s in scenarios
        for key, label in ROWS.items()
    ]
    out = [header, "", *_markdown_table(["scenario", "mode", *COLUMNS], rows), ""]
    out += [f"- {s.name}: {ratios(s)}" for s in scenarios]
    if (line := target_line(scenarios)) is not None:
        out.append(f"- {line}")
    out += [f"- {cold_line(cold)}", f"- {warm_line(scenarios)}", f"- {idle_line(scenarios)}"]
    out += [f"- {n}" for n in NOTES]
    rows = [[s.name, ROWS[key], *time_values(s.modes[key])] for s in scenarios for key in OURS]
    out += ["", *_markdown_table(["scenario", "workload", *TIME_COLUMNS], rows), ""]
    out += [f"- {n}" for n in TIME_NOTES]
    return "\n".join(out) + "\n"


def shape(markdown: str) -> str:
    """The report with its measurements taken out: what stays the same from run to run."""
    text = re.sub(r"\d+(\.\d+)*", "N", markdown)
    text = re.sub(r"\b(not met|met)\b", "MET", text)
    # one cold start per interpreter found: as many as the machine has
    return re.sub(r"(Python N: [^|\n]*)( \| Python N: [^|\n]*)+", r"\1", text)


def readme_section(readme: str) -> str:
    start, end = readme.index(README_BEGIN), readme.index(README_END)
    return readme[start + len(README_BEGIN) : end].strip("\n") + "\n"


def with_readme_section(readme: str, markdown: str) -> str:
    start, end = readme.index(README_BEGIN), readme.index(README_END)
    return readme[: start + len(README_BEGIN)] + "\n" + markdown + readme[end:]

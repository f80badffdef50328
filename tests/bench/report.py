"""What ``make bench`` measured, and its text and Markdown reports (pure: no NFS here, so the
README check can render a report without a server)."""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field

BATCH = 10
MODES = {
    "direct": "direct (1 SNS record per invocation)",
    "batch": f"SQS, batches of {BATCH}",
    "naive": "naive (mount per message)",
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
    """One way of writing sidecars, in one scenario: each invocation's duration and records."""

    durations_s: list[float] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)  # NFS/MOUNT calls, by procedure
    calls_sidecars: int = 0  # the sidecars those calls wrote

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
    def billed_ms_per_1000(self) -> float:
        """Lambda bills each invocation's duration rounded up to the next millisecond."""
        return sum(math.ceil(d * 1000) for d in self.durations_s) * 1000 / self.sidecars

    def mount_calls(self) -> int:
        return sum(v for k, v in self.calls.items() if k.startswith(("MOUNT.", "PORTMAP.")))


@dataclass
class Scenario:
    name: str
    one_way_ms: float  # the delay the proxy adds each way (0: loopback, no proxy)
    rtt_ms: float  # measured in this scenario: median NFS NULL round trip
    rtt_calls: int
    counted: str  # where the NFS call counts come from
    modes: dict[str, ModeResult]
    first_calls: dict[str, int] = field(default_factory=dict)  # a fresh handler's first call
    replace_calls: float | None = None  # calls per sidecar replacing an existing one


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
        f"batch vs direct per sidecar: {m['batch'].rate / m['direct'].rate:.2f}x throughput"
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


@dataclass
class IdleGaps:
    """A warm environment that gets a notification now and then, idle in between."""

    timeout_ms: int  # its NFS_TIMEOUT_MS
    gap_s: float  # from one notification's start to the next's
    durations_s: list[float]  # each notification's
    calls: dict[str, int]  # NFS/MOUNT calls, by procedure, in those notifications
    reconnects: int

    def per_notification(self, prefix: str) -> float:
        return sum(v for k, v in self.calls.items() if k.startswith(prefix)) / len(self.durations_s)


def idle_line(idle: IdleGaps) -> str:
    return (
        f"idle gaps: a warm environment, {len(idle.durations_s)} notifications, one every "
        f"{idle.gap_s:g} s (2 x NFS_TIMEOUT_MS {idle.timeout_ms}): MOUNT calls per notification "
        f"{idle.per_notification('MOUNT.'):.1f}, reconnects {idle.reconnects}, NULL calls "
        f"(the probe after 2 s idle) per notification {idle.per_notification('NFS.NULL'):.1f}"
        f", p50 {percentile(idle.durations_s, 0.5) * 1000:.2f} ms"
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


COLUMNS = ["sidecars/s", "p50 ms", "p99 ms", "NFS calls/sidecar", "billed ms/1000 sidecars"]


def row_values(m: ModeResult) -> list[str]:
    return [
        f"{m.rate:.0f}",
        f"{m.p(0.5):.2f}",
        f"{m.p(0.99):.2f}",
        f"{m.calls_per_sidecar:.1f}",
        f"{m.billed_ms_per_1000:.0f}",
    ]


NOTES = [
    f"p50/p99 per sidecar: an invocation's duration; for a batch, the batch invocation's "
    f"duration attributed to each of its {BATCH} records.",
    "billed ms: each invocation's duration rounded up to the next millisecond, summed, per "
    "1,000 sidecars (naive: one invocation per sidecar).",
    "round trip: median of NFS NULL calls on one connection, measured in that scenario.",
]


def render_text(
    header: str, scenarios: list[Scenario], cold: list[ColdStart], idle: IdleGaps
) -> str:
    out = [header]
    width = max(len(v) for v in MODES.values())
    for s in scenarios:
        out += ["", f"{scenario_title(s)} ({s.rtt_calls} NULL calls); NFS calls {s.counted}:"]
        out.append(f"  {'':{width}} " + " ".join(f"{c:>{len(c)}}" for c in COLUMNS))
        for key, label in MODES.items():
            values = row_values(s.modes[key])
            out.append(
                f"  {label:{width}} "
                + " ".join(f"{v:>{len(c)}}" for v, c in zip(values, COLUMNS, strict=True))
            )
        out.append(f"  {ratios(s)}")
        if s.replace_calls is not None:
            out.append(f"  direct, replacing an existing sidecar: {s.replace_calls:.1f} calls")
        by_proc = "; ".join(
            f"{key} "
            + ", ".join(f"{k} {v / m.calls_sidecars:.3g}" for k, v in sorted(m.calls.items()))
            for key, m in s.modes.items()
        )
        out.append(f"  calls per sidecar by procedure: {by_proc}")
    out.append("")
    if (line := target_line(scenarios)) is not None:
        out.append(line)
    out += [cold_line(cold), warm_line(scenarios), idle_line(idle), *NOTES]
    return "\n".join(out) + "\n"


def markdown_header(total: int, python: str) -> str:
    return (
        f"Generated by `make bench` (then `make bench-readme`): {total} sidecars per mode and "
        f"scenario, nfs-ganesha on the same machine, Python {python}, the zip's libnfs."
    )


def render_markdown(
    header: str, scenarios: list[Scenario], cold: list[ColdStart], idle: IdleGaps
) -> str:
    out = [header, "", "| scenario | mode | " + " | ".join(COLUMNS) + " |"]
    out.append("|---|---|" + "---|" * len(COLUMNS))
    for s in scenarios:
        for key, label in MODES.items():
            out.append(
                f"| {scenario_title(s)} | {label} | " + " | ".join(row_values(s.modes[key])) + " |"
            )
    out.append("")
    out += [f"- {s.name}: {ratios(s)}" for s in scenarios]
    if (line := target_line(scenarios)) is not None:
        out.append(f"- {line}")
    out += [f"- {cold_line(cold)}", f"- {warm_line(scenarios)}", f"- {idle_line(idle)}"]
    out += [f"- {n}" for n in NOTES]
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

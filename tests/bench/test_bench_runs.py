"""Keeps `make bench` working: a short run, checking the shape of its report and the NFS calls it
counts (not its timings, which vary with the machine's load)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.bench.report import COLUMNS, CPU_PARTS, DEFAULT_ONE_WAY_MS, IDLE, OURS, ROWS, shape
from tests.bench.test_readme_bench import stub_markdown

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(\d+(?:\.\d+)?)"


def test_benchmark_reports_every_mode_in_every_scenario(tmp_path: Path) -> None:
    markdown = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.run"],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'function'}:{ROOT}",
            "BENCH_MESSAGES": "20",
            "BENCH_BLOCK": "10",
            "BENCH_COLD_RUNS": "2",
            "BENCH_RTT_CALLS": "20",
            "BENCH_IDLE_NOTIFICATIONS": "3",
            "BENCH_MARKDOWN": str(markdown),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout

    titles = re.findall(r"^(loopback|proxy \+[\d.]+ ms each way), round trip [\d.]+ ms ", out, re.M)
    assert titles == ["loopback"] + [f"proxy +{d:g} ms each way" for d in DEFAULT_ONE_WAY_MS]
    assert out.count("NFS calls counted in the measured run:") == len(DEFAULT_ONE_WAY_MS)
    assert out.count(" ".join(COLUMNS)) == len(titles)
    assert re.search(r"^nfs-sidecar benchmark: .* the handler run by Python 3\.1[23]\.", out, re.M)

    rows = re.findall(
        rf"^  ({'|'.join(re.escape(m) for m in ROWS.values())}) +"
        + " +".join([NUMBER] * len(COLUMNS))
        + "$",
        out,
        re.M,
    )
    assert [row[0] for row in rows] == list(ROWS.values()) * len(titles)
    for label, _rate, _p50, _p99, calls, trips, trips_per_invocation, _billed in rows:
        # Counted: each invocation waits at least once, and never more often than it calls.
        assert float(trips_per_invocation) >= 1, label
        assert float(trips) <= float(calls), label
    naive = [float(row[4]) for row in rows if row[0] == ROWS["naive"]]
    assert naive == [18.0] * len(titles)  # a mount (5 calls), 8 LOOKUPs, ... each
    by_procedure = re.findall(r"^  calls per sidecar by procedure: (.*)$", out, re.M)
    assert len(by_procedure) == len(titles)
    for line in by_procedure:
        modes = {}
        for part in line.split("; "):
            mode, _, procs = part.partition(" ")
            modes[mode] = {k: float(v) for k, v in (p.rsplit(" ", 1) for p in procs.split(", "))}
        assert list(modes) == list(ROWS)
        # A replacement reads the sidecar it replaces; a new sidecar does not.
        assert modes["replace"].get("NFS.READ", 0) == modes["replace-batch"].get("NFS.READ", 0) > 0
        assert "NFS.READ" not in modes["direct"] and "NFS.READ" not in modes["batch"]
        # Every sidecar in the workloads of a warm handler: no mount.
        assert not any(k.startswith("MOUNT.") for key in OURS for k in modes[key])

    time_rows = re.findall(r"^  (loopback|\+[\d.]+ ms): (.*?)  +(\d.*)$", out, re.M)
    assert [(s, w) for s, w, _ in time_rows] == [
        (s, ROWS[key])
        for s in ["loopback", *(f"+{d:g} ms" for d in DEFAULT_ONE_WAY_MS)]
        for key in OURS
    ]
    for scenario, workload, values in time_rows:
        numbers = values.split()
        parts = [float(v.rstrip("%")) for v in numbers[5:]]
        if scenario == "loopback" and workload != ROWS[IDLE]:  # profiled: the CPU's parts, in %
            assert len(parts) == len(CPU_PARTS) and 95 <= sum(parts) <= 105
        else:
            assert parts == []
        wall, waited, server, cpu = (float(v) for v in numbers[:4])
        assert 0 < cpu < wall and 0 < waited < wall and server > 0

    assert out.count("batch vs direct per sidecar:") == len(titles)
    assert re.search(
        r"^target: batches of 10 >= 5x .* at \+1 ms each way: [\d.]+x, (not )?met$", out, re.M
    )
    assert re.search(
        r"^cold start, target < 50 ms .*median of 2; .*\): Python [\d.]+: "
        r"import nfs_sidecar.handler [\d.]+ ms \(without .pyc [\d.]+ ms\) .*"
        r" first mount [\d.]+ ms = [\d.]+ ms, (not )?met$",
        out,
        re.M,
    )
    # Nothing of the cold start on the warm path: a fresh handler's first invocation mounts,
    # the measured (warm) ones make no MOUNT or PORTMAP call.
    warm = re.search(r"^warm path: .* invocations: (.*); MOUNT calls in .*: (.*)$", out, re.M)
    assert warm is not None
    assert warm[1] == ", ".join(["loopback 0/0"] + [f"+{d:g} ms 0/0" for d in DEFAULT_ONE_WAY_MS])
    assert all(int(part.split()[-1]) > 0 for part in warm[2].split(", "))
    # A warm environment idle 2 x NFS_TIMEOUT_MS between notifications keeps its mount.
    idle = re.findall(r"(\S+): MOUNT calls per notification ([\d.]+), reconnects (\d+)", out)
    assert [(float(m), int(r)) for _, m, r in idle] == [(0.0, 0)] * len(titles)

    assert shape(markdown.read_text()) == shape(stub_markdown(20))

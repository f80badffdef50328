"""Keeps `make bench` working: a short run, checking the shape of its report and the NFS calls it
counts (not its timings, which vary with the machine's load)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.bench.report import COLUMNS, DEFAULT_ONE_WAY_MS, MODES, shape
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

    rows = re.findall(
        rf"^  ({'|'.join(re.escape(m) for m in MODES.values())}) +"
        + " +".join([NUMBER] * len(COLUMNS))
        + "$",
        out,
        re.M,
    )
    assert [row[0] for row in rows] == list(MODES.values()) * len(titles)
    calls = [float(row[4]) for row in rows]  # NFS calls per sidecar, counted in each scenario
    assert calls[2::3] == [18.0] * len(titles)  # naive: a mount (5 calls), 8 LOOKUPs, ... each
    by_procedure = re.findall(r"^  calls per sidecar by procedure: (.*)$", out, re.M)
    assert len(by_procedure) == len(titles)
    for line in by_procedure:
        modes = {}
        for part in line.split("; "):
            mode, _, procs = part.partition(" ")
            modes[mode] = {k: float(v) for k, v in (p.rsplit(" ", 1) for p in procs.split(", "))}
        direct, batch = modes["direct"], modes["batch"]
        # 20 new sidecars in a folder two levels deep: the file's LOOKUP and, in the same round
        # trip, one check LOOKUP per cached folder on the path (the folders' own LOOKUPs came
        # before the measured run); a batch of 10 shares its checks (2 per 10 records). The
        # sweep of dead writers' leftovers reads a page of the folder now and then.
        for mode in (direct, batch):
            assert mode.pop("NFS.READDIRPLUS", 0.0) <= 0.1
        assert direct.pop("NFS.LOOKUP") == 3.0
        assert batch.pop("NFS.LOOKUP") == 1.2
        expected = {"NFS.CREATE": 1.0, "NFS.LINK": 1.0, "NFS.REMOVE": 1.0, "NFS.WRITE": 1.0}
        assert direct == batch == expected
    assert "direct, replacing an existing sidecar: 11.0 calls" in out  # 9 + the 2 checks

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
    idle = re.search(
        r"^idle gaps: .*: MOUNT calls per notification ([\d.]+), reconnects (\d+)", out, re.M
    )
    assert idle is not None
    assert (float(idle[1]), int(idle[2])) == (0.0, 0)

    assert shape(markdown.read_text()) == shape(stub_markdown(20))

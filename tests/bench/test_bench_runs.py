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
    for direct, batch, naive in zip(calls[0::3], calls[1::3], calls[2::3], strict=True):
        # 20 sidecars in one folder: one LOOKUP each, plus the two folders, once
        assert direct == 5.1
        assert batch <= direct  # a batch spends no more calls per sidecar
        assert naive == 18.0  # a mount (5 calls), 8 LOOKUPs, ... for every sidecar
    assert "direct, replacing an existing sidecar: 9.0 calls" in out

    assert out.count("batch vs direct per sidecar:") == len(titles)
    assert re.search(
        r"^target: batches of 10 >= 5x .* at \+1 ms each way: [\d.]+x, (not )?met$", out, re.M
    )
    assert re.search(
        r"^cold start, target < 50 ms .*median of 2; .*\): Python [\d.]+: "
        r"import nfs_sidecar.handler [\d.]+ ms \(with .pyc [\d.]+ ms\) .*"
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

    assert shape(markdown.read_text()) == shape(stub_markdown(20))

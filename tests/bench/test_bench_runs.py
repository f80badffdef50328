"""Keeps `make bench` working: a tiny run, checking its table and the RPC counts (not its timings,
which the benchmark reports as ratios)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_prints_its_table_and_rpc_counts() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.run"],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'function'}:{ROOT}",
            "BENCH_MESSAGES": "20",
            "BENCH_BLOCK": "10",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("throughput function/naive:") == 2
    rows = dict(re.findall(r"^  (function|naive) +\d+ +[\d.]+ +[\d.]+ +([\d.]+)$", out, re.M))
    assert rows == {"function": "5.0", "naive": "18.0"}
    assert "lock + read + rename): 9.0 RPCs/msg" in out

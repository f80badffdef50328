#!/usr/bin/env python3
"""Put the last `make bench` report (.tmp/bench.md) into docs/design.md's Performance section,
between `<!-- BEGIN_BENCH -->` and `<!-- END_BENCH -->`. Standard library only.

    scripts/bench_readme.py [REPORT]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bench.report import PERFORMANCE_DOC, shape, with_readme_section  # noqa: E402


def main() -> int:
    report_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".tmp" / "bench.md"
    if not report_path.is_file():
        print(f"error: {report_path} does not exist: run `make bench` first", file=sys.stderr)
        return 1
    report = report_path.read_text()
    if "| scenario | mode |" not in shape(report):
        print(f"error: {report_path} is not a bench report", file=sys.stderr)
        return 1
    target = ROOT / PERFORMANCE_DOC
    target.write_text(with_readme_section(target.read_text(), report))
    print(f"{PERFORMANCE_DOC}: Performance table from {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""docs/design.md's Performance table is a `make bench` report (see scripts/bench_readme.py): it has
the shape the bench generates. No NFS here: the report is rendered from made-up figures."""

from __future__ import annotations

import re
from pathlib import Path

from tests.bench.report import (
    CPU_PARTS,
    DEFAULT_ONE_WAY_MS,
    IDLE,
    OURS,
    PERFORMANCE_DOC,
    ROWS,
    ColdStart,
    IdleGaps,
    ModeResult,
    Scenario,
    markdown_header,
    readme_section,
    render_markdown,
    shape,
    with_readme_section,
)

ROOT = Path(__file__).resolve().parents[2]
BENCH_MESSAGES = 600  # make bench's default


def stub_markdown(total: int) -> str:
    def mode(records: int, key: str, profiled: bool) -> ModeResult:
        n = total // records
        return ModeResult(
            [0.002] * n,
            [records] * n,
            {"NFS.LOOKUP": total},
            total,
            None if key == "naive" else 3 * n,
            None if key == "naive" else 0.001 * n,
            0.0005 * n,
            0.0004 * total,
            dict.fromkeys(CPU_PARTS, 0.0001 * total) if profiled and key != "naive" else {},
        )

    scenarios = [
        Scenario(
            "loopback" if not one_way else f"+{one_way:g} ms",
            one_way,
            0.1,
            200,
            "counted",
            {
                key: mode(10 if "batch" in label else 1, key, not one_way and key != IDLE)
                for key, label in ROWS.items()
            },
            {"MOUNT.MNT": 1},
            IdleGaps(1500, 3.0, 0),
        )
        for one_way in (0.0, *DEFAULT_ONE_WAY_MS)
    ]
    cold = [ColdStart("3.12.1", [20.0], [1.0], [2.0], [40.0])]
    return render_markdown(markdown_header(total, "3.12.1"), scenarios, cold)


def test_the_readme_table_is_a_bench_report() -> None:
    section = readme_section((ROOT / PERFORMANCE_DOC).read_text())
    assert shape(section) == shape(stub_markdown(BENCH_MESSAGES)), (
        f"{PERFORMANCE_DOC}'s Performance section is not what `make bench` generates: run "
        "`make bench` then `make bench-readme`"
    )


def test_the_readme_has_no_bench_report_of_its_own() -> None:
    """One place for the figures: the README points to it."""
    readme = (ROOT / "README.md").read_text()
    assert "<!-- BEGIN_BENCH -->" not in readme and "| scenario | mode |" not in readme
    assert PERFORMANCE_DOC in readme


def test_the_stub_report_lists_every_row_of_every_scenario() -> None:
    rows = [line for line in stub_markdown(20).splitlines() if line.startswith("| ")]
    scenarios = 1 + len(DEFAULT_ONE_WAY_MS)
    # the workload table and the time table, each with its header row
    assert len(rows) == 1 + len(ROWS) * scenarios + 1 + len(OURS) * scenarios


def test_a_cold_start_per_interpreter_keeps_the_shape() -> None:
    one = stub_markdown(600)
    part = re.search(r"Python 3\.12\.1: [^\n]*", one)
    assert part is not None
    two = one.replace(part[0], f"{part[0]} | {part[0].replace('3.12.1', '3.13.0')}")
    assert two != one and shape(two) == shape(one)


def test_bench_readme_replaces_only_its_section() -> None:
    readme = "intro\n<!-- BEGIN_BENCH -->\nold\n<!-- END_BENCH -->\nafter\n"
    assert with_readme_section(readme, "new\n") == (
        "intro\n<!-- BEGIN_BENCH -->\nnew\n<!-- END_BENCH -->\nafter\n"
    )

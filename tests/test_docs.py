"""The docs against what they describe: generated tables, links, sonames, make targets.

Pure reading: no server, no build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import errors_docs

ROOT = Path(__file__).resolve().parents[1]


def test_the_troubleshooting_table_is_what_errors_py_gives() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "errors_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, (
        "docs/operations.md's troubleshooting table is out of date: run `make errors-docs`\n"
        + proc.stdout
        + proc.stderr
    )


def test_the_table_has_a_row_per_error_type_with_its_retryable_and_hint() -> None:
    from nfs_sidecar.errors import ERRORS, InvalidMessage, SidecarBusy

    table = errors_docs.table(ERRORS)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [cls.__name__ for cls in ERRORS]
    invalid = next(row for row in rows if row.startswith("| `InvalidMessage` |"))
    assert "| no |" in invalid and " ".join(InvalidMessage.hint.split()) in invalid
    assert "| yes |" in next(row for row in rows if row.startswith("| `SidecarBusy` |"))
    assert SidecarBusy.retryable


def test_the_check_fails_on_a_stale_table(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    stale = doc.replace("| `SidecarCollision` | no |", "| `SidecarCollision` | yes |")
    assert stale != doc
    assert errors_docs.with_table(stale, errors_docs.table(errors_docs.error_types())) == doc

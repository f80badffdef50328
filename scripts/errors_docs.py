#!/usr/bin/env python3
"""Generate or check docs/operations.md's troubleshooting table by error type.

Reads ``ERRORS`` from function/nfs_sidecar/errors.py (each type's class-level ``retryable`` and
``hint``) and writes the table between `<!-- BEGIN_ERRORS -->` and `<!-- END_ERRORS -->`, as
scripts/tf_docs.py does for the Terraform tables. Standard library only.

    scripts/errors_docs.py            # rewrite the table (make errors-docs)
    scripts/errors_docs.py --check    # exit 1 and show a diff when it is out of date
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "operations.md"
BEGIN = "<!-- BEGIN_ERRORS -->"
END = "<!-- END_ERRORS -->"


def error_types() -> tuple[type[Exception], ...]:
    sys.path.insert(0, str(ROOT / "function"))
    try:
        from nfs_sidecar.errors import ERRORS
    finally:
        sys.path.remove(str(ROOT / "function"))
    return ERRORS


def table(errors: tuple[type[Exception], ...]) -> str:
    lines = ["| error type | retryable | what it means, what to do |", "|---|---|---|"]
    for cls in errors:
        retryable = "yes" if cls.retryable else "no"  # type: ignore[attr-defined]
        if cls.__name__ == "NfsStatusError":
            retryable = "per status"
        hint = " ".join(cls.hint.split()).replace("|", "\\|")  # type: ignore[attr-defined]
        lines.append(f"| `{cls.__name__}` | {retryable} | {hint} |")
    return "\n".join(lines) + "\n"


def with_table(doc: str, generated: str) -> str:
    start, end = doc.index(BEGIN), doc.index(END)
    return doc[: start + len(BEGIN)] + "\n" + generated + doc[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the table is out of date")
    args = parser.parse_args()
    current = DOC.read_text()
    wanted = with_table(current, table(error_types()))
    if wanted == current:
        return 0
    if args.check:
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            wanted.splitlines(keepends=True),
            str(DOC.relative_to(ROOT)),
            "generated from function/nfs_sidecar/errors.py",
        )
        sys.stdout.writelines(diff)
        print("\nout of date: run `make errors-docs`", file=sys.stderr)
        return 1
    DOC.write_text(wanted)
    print(f"{DOC.relative_to(ROOT)}: troubleshooting table from errors.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())

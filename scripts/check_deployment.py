#!/usr/bin/env python3
"""Post-deploy check: invoke the deployed function's probe and report each step.

The probe (function/nfs_sidecar/probe.py) does what a notification does and leaves nothing:
resolve the server, connect to its ports, mount with the configured identity, look up a folder
(default: the export's root), create, write with FILE_SYNC and remove a probe file. Each step is
reported ok or with its failure and the fix; the exit code is 0 when all are ok.

    scripts/check_deployment.py --function NAME [--folder runs/2026] [--region eu-west-1]
    scripts/check_deployment.py --terraform-dir terraform/examples/complete   (its outputs)

The caller needs lambda:InvokeFunction on the function (the module's `operator_policy_json`).
boto3 honours AWS_ENDPOINT_URL, AWS_PROFILE, AWS_REGION as usual.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

PROBE_KEY = "nfs_sidecar_probe"


def function_from_terraform(directory: str) -> str:
    proc = subprocess.run(
        ["terraform", f"-chdir={directory}", "output", "-raw", "function_name"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(
            f"cannot read the function_name output in {directory} (applied there?):\n{proc.stderr}"
        )
    return proc.stdout.strip()


def invoke(function: str, folder: str, region: str | None) -> tuple[dict[str, Any], float]:
    import boto3
    from botocore.config import Config

    # One attempt (the report says what failed), and time for the function's own timeout.
    config = Config(read_timeout=930, connect_timeout=10, retries={"max_attempts": 1})
    client = boto3.client("lambda", region_name=region, config=config)
    started = time.monotonic()
    response = client.invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps({PROBE_KEY: {"folder": folder}}).encode(),
    )
    elapsed = time.monotonic() - started
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        error = payload if isinstance(payload, dict) else {"errorMessage": str(payload)}
        raise SystemExit(
            f"the function failed the probe invocation ({response['FunctionError']}): "
            f"{error.get('errorType', '?')}: {error.get('errorMessage', '')}\n"
            "ConfigError: fix the Terraform inputs; Task timed out: raise `timeout`;"
            " LibnfsUnavailable: deploy the zip built for the function's architecture."
        )
    if not isinstance(payload, dict) or "steps" not in payload:
        raise SystemExit(
            f"the function answered without a probe report (an older zip?): {payload!r}"
        )
    return payload, elapsed


def render(function: str, report: dict[str, Any], elapsed_s: float) -> str:
    folder = report.get("folder") or "/"
    lines = [
        f"nfs-sidecar post-deploy check: function {function}"
        f" -> {report['server']}:{report['export']} (folder: {folder})",
        f"identity presented: uid {report['uid']}, gid {report['gid']};"
        f" NFS timeout {report['nfs_timeout_ms']} ms",
    ]
    if "nfs_port" in report:
        lines.append(
            f"server ports: NFS {report['nfs_port']}, MOUNT {report['mount_port']}"
            f" ({report['ports_from']}); round trip {report['round_trip_ms']} ms"
        )
    for step in report["steps"]:
        mark = "ok  " if step["ok"] else "FAIL"
        line = f"  {mark} {step['step']:<8} {step['ms']:>8.1f} ms"
        if step["ok"]:
            extra = step.get("address") or step.get("file") or ""
            if "bytes" in step:
                extra = f"{step['bytes']} bytes, FILE_SYNC"
            lines.append(f"{line}  {extra}".rstrip())
        else:
            lines.append(f"{line}  {step['error_type']}: {step['error']}")
            lines.append(f"       fix: {step['fix']}")
    took = f"(invocation {elapsed_s * 1000:.0f} ms)"
    if report["ok"]:
        lines.append(f"OK: the function can write in {folder} {took}")
    else:
        failed = next(s for s in report["steps"] if not s["ok"])
        lines.append(f"FAILED at step {failed['step']} after {failed['ms']:.1f} ms {took}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--function", help="the function's name or ARN")
    target.add_argument("--terraform-dir", help="a Terraform folder whose outputs name it")
    parser.add_argument("--folder", default="", help="folder to probe, relative to the export")
    parser.add_argument("--region", help="AWS region (default: the SDK's)")
    parser.add_argument("--json", action="store_true", help="print the probe's report as JSON")
    args = parser.parse_args(argv)

    function = args.function or function_from_terraform(args.terraform_dir)
    report, elapsed = invoke(function, args.folder, args.region)
    print(json.dumps(report, indent=2) if args.json else render(function, report, elapsed))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Every IAM and resource policy the module can render, linted offline by parliament.

Each configuration below is planned by Terraform itself (fake credentials, no API call). A first
plan leaves the policies unknown: they hold the ARNs of resources still to be created. So the
resources that carry those ARNs are written into a state as the first plan planned them, plus
made-up ARNs, and a second plan (-refresh=false) renders every policy in full. Each statement is
then checked alone: no finding at MEDIUM or above, unless ignored beside its statement in the
Terraform source with a reason (`# parliament:ignore ISSUE: reason`, in the lines before its Sid).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from parliament import analyze_policy_string, enhance_finding
from tests.terraform.test_terraform import TF_ROOT, TMP, report, run

ACCOUNT = "111122223333"
REGION = "eu-west-1"
FAILING = ("MEDIUM", "HIGH", "CRITICAL")
# parliament rates these LOW; a misspelt action grants nothing, silently: fail on them too.
FAILING_ISSUES = ("UNKNOWN_ACTION", "UNKNOWN_PREFIX")
MODULE = "module.nfs_sidecar"

BASE: dict[str, Any] = {
    "name": "sidecar",
    "lambda_zip_path": str(TF_ROOT / "tests" / "fixtures" / "function.zip"),
    "nfs_server": "10.0.8.10",
    "nfs_export": "/processingresults",
    "subnet_ids": ["subnet-0a1b2c3d"],
    "vpc_id": "vpc-0a1b2c3d",
    "publisher_arns": [f"arn:aws:iam::{ACCOUNT}:role/upstream"],
}
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1c2d3e-1111-2222-3333-444455556666"
OPERATORS = [f"arn:aws:iam::{ACCOUNT}:role/operators", "arn:aws:iam::777788889999:root"]
ALARMS = {"alarm_actions": [f"arn:aws:sns:{REGION}:{ACCOUNT}:on-call"]}

# Both delivery modes, with and without KMS, alarms and operators, without the failure queue, and
# with an existing topic of this account and of another one.
CONFIGS: dict[str, dict[str, Any]] = {
    "direct": {},
    "direct-kms-operators-alarms": {"kms_key_arn": KMS, "operator_arns": OPERATORS, **ALARMS},
    "direct-no-failure-queue": {"create_failure_queue": False, "create_alarms": False},
    "sqs": {"delivery": "sqs"},
    "sqs-kms-operators-alarms": {
        "delivery": "sqs",
        "kms_key_arn": KMS,
        "operator_arns": OPERATORS,
        **ALARMS,
    },
    "sqs-existing-topic": {
        "delivery": "sqs",
        "create_topic": False,
        "topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:upstream",
        "publisher_arns": [],
        "operator_arns": OPERATORS,
    },
    "direct-foreign-topic-kms": {
        "create_topic": False,
        "topic_arn": f"arn:aws:sns:{REGION}:444455556666:upstream",
        "publisher_arns": [],
        "kms_key_arn": KMS,
    },
}

# With an existing topic the module asks STS which account it runs in (a foreign topic's SNS
# metrics are not here): a stand-in answers on loopback.
STS_REPLY = """<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::{account}:user/plan</Arn><UserId>AIDAPLAN</UserId>
<Account>{account}</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>0</RequestId></ResponseMetadata></GetCallerIdentityResponse>"""


class StandInSts(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = STS_REPLY.format(account=ACCOUNT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sts_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInSts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


ROOT = """provider "aws" {{
  region                      = "{region}"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  endpoints {{
    sts = "{sts}"
  }}
}}

variable "inputs" {{
  type = any
}}

module "nfs_sidecar" {{
{arguments}
}}

output "operator_policy_json" {{
  value = module.nfs_sidecar.operator_policy_json
}}
"""

# Where each document is, by resource type and attribute.
POLICY_ATTRIBUTES = {
    "aws_iam_role_policy": "policy",
    "aws_iam_role": "assume_role_policy",
    "aws_sns_topic_policy": "policy",
    "aws_sqs_queue_policy": "policy",
}


class Finding(NamedTuple):
    config: str
    policy: str
    sid: str
    issue: str
    severity: str
    detail: str


def fake_computed(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """The attributes AWS would fill in, for the resources whose ARNs the policies hold."""
    if kind == "aws_sns_topic":
        arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{values['name']}"
        return {"arn": arn, "id": arn}
    if kind == "aws_sqs_queue":
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{values['name']}"
        return {"arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{values['name']}", "id": url, "url": url}
    if kind == "aws_cloudwatch_log_group":
        arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{values['name']}"
        return {"arn": arn, "id": values["name"]}
    if kind == "aws_lambda_function":
        name = values["function_name"]
        return {"arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", "id": name}
    if kind == "aws_iam_role":
        name = values.get("name") or f"{values['name_prefix']}20261206000000000000000001"
        return {"arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "id": name, "name": name}
    raise LookupError(kind)


KNOWN_FIRST = ("aws_sns_topic", "aws_sqs_queue", "aws_cloudwatch_log_group", "aws_lambda_function")


def state_from_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """A state holding the ARN-carrying resources as the plan planned them."""
    resources = []
    for r in plan["planned_values"]["root_module"]["child_modules"][0]["resources"]:
        if r["mode"] != "managed" or r["type"] not in (*KNOWN_FIRST, "aws_iam_role"):
            continue
        values = {k: v for k, v in r.get("values", {}).items() if v is not None}
        values.update(fake_computed(r["type"], values))
        instance: dict[str, Any] = {"schema_version": r.get("schema_version", 0)}
        if "index" in r:
            instance["index_key"] = r["index"]
        instance["attributes"] = values
        resources.append(
            {
                "module": MODULE,
                "mode": "managed",
                "type": r["type"],
                "name": r["name"],
                "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
                "instances": [instance],
            }
        )
    return {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 1,
        "lineage": str(uuid.uuid4()),
        "outputs": {},
        "resources": resources,
    }


def plan_json(terraform: str, directory: Path, env: dict[str, str], name: str) -> dict[str, Any]:
    proc = run(
        [terraform, "plan", "-refresh=false", "-input=false", "-no-color", f"-out={name}"],
        directory,
        env,
    )
    assert proc.returncode == 0, report(proc)
    proc = run([terraform, "show", "-json", name], directory, env)
    assert proc.returncode == 0, report(proc)
    return json.loads(proc.stdout)


def root_config(terraform: str, env: dict[str, str], sts: str) -> Path:
    """One root configuration for every CONFIGS entry (an input left out is null: its default)."""
    directory = TMP / "policies"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    keys = dict.fromkeys(key for config in CONFIGS.values() for key in {**BASE, **config})
    arguments = f'  source = "{TF_ROOT.as_posix()}"\n' + "".join(
        f"  {key} = try(var.inputs.{key}, null)\n" for key in keys
    )
    (directory / "main.tf").write_text(ROOT.format(region=REGION, arguments=arguments, sts=sts))
    proc = run([terraform, "init", "-backend=false", "-no-color"], directory, env)
    assert proc.returncode == 0, report(proc)
    return directory


def render(terraform: str, env: dict[str, str], directory: Path, config: str) -> dict[str, str]:
    """name -> policy JSON, every document the configuration renders."""
    (directory / "terraform.tfstate").unlink(missing_ok=True)
    (directory / "terraform.tfvars.json").write_text(
        json.dumps({"inputs": {**BASE, **CONFIGS[config]}})
    )
    first = plan_json(terraform, directory, env, "first.plan")
    (directory / "terraform.tfstate").write_text(json.dumps(state_from_plan(first)))
    second = plan_json(terraform, directory, env, "second.plan")

    documents: dict[str, str] = {}
    for change in second["resource_changes"]:
        attribute = POLICY_ATTRIBUTES.get(change["type"])
        if attribute is None or change["mode"] != "managed":
            continue
        after, unknown = change["change"]["after"], change["change"]["after_unknown"]
        label = change["address"].removeprefix(MODULE + ".")
        assert not unknown.get(attribute), f"{label}.{attribute} still unknown in the plan"
        documents[label] = after[attribute]
    output = second["planned_values"]["outputs"]["operator_policy_json"]
    assert "value" in output, "operator_policy_json still unknown in the plan"
    documents["output.operator_policy_json"] = output["value"]
    return documents


def source_ignores() -> dict[tuple[str, str], str]:
    """(Sid, issue) -> reason, from `# parliament:ignore ISSUE: reason` comments before a Sid."""
    found: dict[tuple[str, str], str] = {}
    pattern = re.compile(
        r"#\s*parliament:ignore\s+([A-Z_]+):\s*(.+)\n((?:[ \t]*#.*\n)*)[ \t]*sid\s*=\s*\"(\w+)\"",
        re.I,
    )
    for tf in TF_ROOT.glob("*.tf"):
        for issue, reason, more, sid in pattern.findall(tf.read_text()):
            found[(sid, issue)] = " ".join([reason, *re.findall(r"#\s*(.*)", more)]).strip()
    return found


def lint(config: str, name: str, document: str) -> Iterator[Finding]:
    """Each statement alone, so that each finding is known by its statement's Sid."""
    policy = json.loads(document)
    statements = policy["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        single = json.dumps({"Version": policy.get("Version"), "Statement": [statement]})
        for finding in analyze_policy_string(single).findings:
            finding = enhance_finding(finding)
            yield Finding(
                config,
                name,
                statement.get("Sid", "-"),
                finding.issue,
                finding.severity,
                str(finding.detail),
            )


def failing(findings: list[Finding], ignores: dict[tuple[str, str], str]) -> list[Finding]:
    return [
        f
        for f in findings
        if (f.severity in FAILING or f.issue in FAILING_ISSUES) and (f.sid, f.issue) not in ignores
    ]


@pytest.fixture(scope="module")
def rendered(terraform, tf_env, sts_endpoint) -> dict[str, dict[str, str]]:
    env = dict(tf_env, TF_DATA_DIR=str(TMP / "data" / "policies"))
    directory = root_config(terraform, env, sts_endpoint)
    return {config: render(terraform, env, directory, config) for config in CONFIGS}


@pytest.fixture(scope="module")
def findings(rendered) -> list[Finding]:
    found = [
        finding
        for config, documents in rendered.items()
        for name, document in documents.items()
        for finding in lint(config, name, document)
    ]
    table = TMP / "parliament-findings.md"
    table.parent.mkdir(parents=True, exist_ok=True)
    ignores = source_ignores()
    lines = [
        "| configuration | policy | Sid | issue | severity | ignored because |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {f.config} | {f.policy} | {f.sid} | {f.issue} | {f.severity} |"
        f" {ignores.get((f.sid, f.issue), '')} |"
        for f in found
    ]
    table.write_text("\n".join(lines) + "\n")
    return found


def test_every_policy_is_rendered(rendered):
    """Every kind of document in every configuration, and nothing left unknown."""
    for config, documents in rendered.items():
        names = set(documents)
        assert {"aws_iam_role.this", "aws_iam_role_policy.this"} <= names, config
        assert "output.operator_policy_json" in names, config
        assert ("aws_sns_topic_policy.this[0]" in names) == (
            CONFIGS[config].get("create_topic", True)
        ), config
        assert ("aws_sqs_queue_policy.delivery[0]" in names) == (
            CONFIGS[config].get("delivery") == "sqs"
        ), config
        assert ("aws_sqs_queue_policy.failure[0]" in names) == (
            CONFIGS[config].get("create_failure_queue", True)
        ), config
        for name, document in documents.items():
            assert "${" not in document and json.loads(document)["Statement"], (config, name)
    operator = json.loads(rendered["sqs-kms-operators-alarms"]["output.operator_policy_json"])
    sids = [s["Sid"] for s in operator["Statement"]]
    assert sids == ["InvokeProbe", "PublishToTopic", "ReadLogs", "RedriveFailureQueue", "UseKmsKey"]
    assert operator["Statement"][0]["Resource"] == (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sidecar"
    )


def test_no_finding_at_medium_or_above(findings):
    ignores = source_ignores()
    bad = failing(findings, ignores)
    lines = [f"{f.severity} {f.issue} in {f.config} {f.policy} {f.sid}: {f.detail}" for f in bad]
    assert not bad, "parliament findings (fix, or ignore beside the statement with a reason):\n" + (
        "\n".join(lines)
    )


def test_every_ignore_is_used_and_justified(findings):
    ignores = source_ignores()
    used = {(f.sid, f.issue) for f in findings}
    for key, reason in ignores.items():
        assert key in used, f"parliament:ignore {key} matches no finding: remove it"
        assert len(reason) >= 30, f"parliament:ignore {key} needs a reason"


def test_a_broken_statement_is_caught(rendered):
    """The same check, on the role policy with a send to the topic's ARN instead of the queue's and
    a misspelt action added."""
    policy = json.loads(rendered["direct"]["aws_iam_role_policy.this"])
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:sidecar"
    policy["Statement"] += [
        {"Sid": "WrongResource", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": topic},
        {"Sid": "Misspelt", "Effect": "Allow", "Action": "sqs:SendMesage", "Resource": topic},
    ]
    found = list(lint("direct", "aws_iam_role_policy.this", json.dumps(policy)))
    bad = {(f.sid, f.issue, f.severity) for f in failing(found, source_ignores())}
    assert bad == {
        ("WrongResource", "RESOURCE_MISMATCH", "MEDIUM"),
        ("Misspelt", "UNKNOWN_ACTION", "LOW"),
    }

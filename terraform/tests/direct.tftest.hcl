# Default delivery (SNS -> Lambda), with a mocked AWS provider: no credentials, no API calls.
# `command = apply` makes the mocked computed attributes (ARNs, ids) known, so the wiring between
# resources can be asserted.

mock_provider "aws" {
  source = "./tests/mocks"
}

# Inputs: tests/terraform.tfvars, and what each run sets.

run "defaults" {
  command = apply

  # Function: contract with function/ and the documented defaults.
  assert {
    condition     = aws_lambda_function.this.handler == "lambda_function.lambda_handler"
    error_message = "handler must be lambda_function.lambda_handler"
  }
  assert {
    condition     = aws_lambda_function.this.runtime == "python3.12" && aws_lambda_function.this.architectures == tolist(["arm64"])
    error_message = "defaults must be python3.12 on arm64"
  }
  assert {
    condition     = aws_lambda_function.this.timeout == 30 && aws_lambda_function.this.reserved_concurrent_executions == 10
    error_message = "defaults must be a 30 s timeout and reserved concurrency 10"
  }
  assert {
    condition     = aws_lambda_function.this.source_code_hash == filebase64sha256("tests/fixtures/function.zip") && aws_lambda_function.this.filename == "tests/fixtures/function.zip"
    error_message = "the function must be deployed from the given zip with its hash"
  }
  assert {
    condition = aws_lambda_function.this.environment[0].variables == tomap({
      NFS_SERVER                 = "10.0.8.10"
      NFS_EXPORT                 = "/processingresults"
      METRICS_NAMESPACE          = "NfsSidecar"
      SIDECAR_LOCK_STALE_SECONDS = "60"
    })
    error_message = "only the required variables, the metrics namespace and the lock age (timeout + 30) may be set by default"
  }
  assert {
    condition     = aws_lambda_function.this.logging_config[0].log_format == "JSON" && aws_lambda_function.this.logging_config[0].log_group == aws_cloudwatch_log_group.this.name
    error_message = "the function must log JSON to its own log group"
  }
  assert {
    condition     = aws_lambda_function.this.logging_config[0].system_log_level == "INFO" && aws_lambda_function.this.logging_config[0].application_log_level == "INFO"
    error_message = "Lambda's START/REPORT lines (system INFO) and the function's INFO lines must be kept by default"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/sidecar" && aws_cloudwatch_log_group.this.retention_in_days == 30
    error_message = "log group name or retention is wrong"
  }
  assert {
    condition     = aws_lambda_function.this.vpc_config[0].subnet_ids == toset(["subnet-0a1b2c3d"]) && aws_lambda_function.this.vpc_config[0].security_group_ids == toset([aws_security_group.this[0].id])
    error_message = "the function must run in the given subnets with the created security group"
  }
  assert {
    condition     = aws_lambda_function.this.role == aws_iam_role.this.arn
    error_message = "the function must use the module's role"
  }

  # Direct delivery: subscription to the function, permission scoped to the topic.
  assert {
    condition     = aws_sns_topic_subscription.this.protocol == "lambda" && aws_sns_topic_subscription.this.endpoint == aws_lambda_function.this.arn && aws_sns_topic_subscription.this.topic_arn == aws_sns_topic.this[0].arn
    error_message = "the topic must be subscribed to the function"
  }
  assert {
    condition     = aws_lambda_permission.sns[0].principal == "sns.amazonaws.com" && aws_lambda_permission.sns[0].source_arn == aws_sns_topic.this[0].arn && aws_lambda_permission.sns[0].function_name == aws_lambda_function.this.function_name
    error_message = "the invoke permission must be for SNS and scoped to the topic"
  }
  assert {
    condition     = length(aws_sqs_queue.delivery) == 0 && length(aws_lambda_event_source_mapping.this) == 0 && length(aws_sqs_queue_policy.delivery) == 0
    error_message = "direct delivery must not create a delivery queue or an event source mapping"
  }

  # Failure handling: retries, event age, on-failure destination = failure queue.
  assert {
    condition     = aws_lambda_function_event_invoke_config.this[0].maximum_retry_attempts == 2 && aws_lambda_function_event_invoke_config.this[0].maximum_event_age_in_seconds == 3600
    error_message = "retries and maximum event age must be configured"
  }
  assert {
    condition     = aws_lambda_function_event_invoke_config.this[0].destination_config[0].on_failure[0].destination == aws_sqs_queue.failure[0].arn
    error_message = "the on-failure destination must be the failure queue"
  }
  assert {
    condition     = aws_sqs_queue.failure[0].name == "sidecar-failures" && aws_sqs_queue.failure[0].sqs_managed_sse_enabled == true && aws_sqs_queue.failure[0].kms_master_key_id == null
    error_message = "the failure queue must be created with SQS-managed encryption"
  }
  assert {
    condition     = output.failure_queue_arn == aws_sqs_queue.failure[0].arn && output.failure_queue_url == aws_sqs_queue.failure[0].url && output.failure_queue_name == "sidecar-failures"
    error_message = "outputs must name the failure queue"
  }

  # Topic and its policy: only the named publisher may publish.
  assert {
    condition     = aws_sns_topic.this[0].name == "sidecar" && aws_sns_topic.this[0].kms_master_key_id == null && output.topic_arn == aws_sns_topic.this[0].arn
    error_message = "the topic must be created, unencrypted by default, and output"
  }
  assert {
    condition = jsondecode(aws_sns_topic_policy.this[0].policy).Statement[0] == {
      Sid       = "AllowNamedPublishers"
      Effect    = "Allow"
      Principal = { AWS = ["arn:aws:iam::111122223333:root"] }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.this[0].arn
      Condition = { ArnLike = { "aws:PrincipalArn" = ["arn:aws:iam::111122223333:role/upstream"] } }
    }
    error_message = "the topic policy must allow the named publisher by its account, narrowed by aws:PrincipalArn (no role ARN as Principal)"
  }
  assert {
    condition = jsondecode(aws_sns_topic_policy.this[0].policy).Statement[1].Effect == "Deny" && jsondecode(aws_sns_topic_policy.this[0].policy).Statement[1].Condition == {
      ArnNotEquals = { "aws:PrincipalArn" = ["arn:aws:iam::111122223333:role/upstream"] }
    }
    error_message = "the topic policy must deny every other principal"
  }

  # Security group: portmapper in use (ports not given) -> 111 and 2049 to the server's /32 only.
  assert {
    condition     = toset(keys(aws_vpc_security_group_egress_rule.nfs)) == toset(["tcp-111-10.0.8.10/32", "tcp-2049-10.0.8.10/32"])
    error_message = "egress must be 111 and 2049 to the server only when the portmapper is used"
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_egress_rule.nfs : r.ip_protocol == "tcp" && r.from_port == r.to_port && r.security_group_id == aws_security_group.this[0].id])
    error_message = "egress rules must be single TCP ports on the created security group"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.nfs["tcp-111-10.0.8.10/32"].description == "portmapper (libnfs uses TCP)" && aws_vpc_security_group_egress_rule.nfs["tcp-2049-10.0.8.10/32"].description == "NFS/MOUNT"
    error_message = "egress rules must say what they are for"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.nfs["tcp-111-10.0.8.10/32"].cidr_ipv4 == "10.0.8.10/32" && aws_vpc_security_group_egress_rule.nfs["tcp-111-10.0.8.10/32"].from_port == 111
    error_message = "the portmapper rule must allow TCP 111 to the server only"
  }
  assert {
    condition     = output.security_group_id == aws_security_group.this[0].id && aws_security_group.this[0].vpc_id == "vpc-0a1b2c3d"
    error_message = "the security group must be created in the VPC and output"
  }

  # IAM: own log group, ENIs, send to the failure destination; nothing else.
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid] == ["OwnLogGroup", "VpcNetworkInterfaces", "SendToFailureDestination"]
    error_message = "the role policy must have exactly the log, ENI and failure destination statements"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.this.policy).Statement[0].Resource == "${aws_cloudwatch_log_group.this.arn}:*"
    error_message = "log permissions must be scoped to the function's log group"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.this.policy).Statement[2].Resource == aws_sqs_queue.failure[0].arn && jsondecode(aws_iam_role_policy.this.policy).Statement[2].Action == "sqs:SendMessage"
    error_message = "the role may only send to its failure queue"
  }
  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Principal.Service == "lambda.amazonaws.com"
    error_message = "the role must be assumable by Lambda"
  }
  assert {
    condition     = aws_iam_role.this.name_prefix == "sidecar-"
    error_message = "the role's name must be generated from a prefix (IAM names are global: two regions must not collide)"
  }

  # Subscription dead-letter queue: what SNS cannot deliver goes to the failure queue.
  assert {
    condition     = jsondecode(aws_sns_topic_subscription.this.redrive_policy) == { deadLetterTargetArn = aws_sqs_queue.failure[0].arn }
    error_message = "the subscription must dead-letter to the failure queue"
  }
  assert {
    condition = jsondecode(aws_sqs_queue_policy.failure[0].policy).Statement == [{
      Sid       = "AllowTopicDeadLetters"
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.failure[0].arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_sns_topic.this[0].arn } }
    }] && aws_sqs_queue_policy.failure[0].queue_url == aws_sqs_queue.failure[0].id
    error_message = "only the topic may send to the failure queue (by policy), and nobody else is admitted without operator_arns"
  }

  # Alarms: every failure path of direct delivery, and a burst of each listed error type.
  assert {
    condition = toset(keys(aws_cloudwatch_metric_alarm.this)) == toset([
      "failure-queue-not-empty", "function-errors", "function-throttles", "sns-notifications-failed",
      "sns-dead-letter-failed", "async-events-dropped", "destination-delivery-failures",
      "burst-MountError", "burst-NfsTimeout", "burst-NfsConnectionError",
    ])
    error_message = "direct delivery must have its alarms (and no delivery-queue alarm)"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["failure-queue-not-empty"].namespace == "AWS/SQS" &&
      aws_cloudwatch_metric_alarm.this["failure-queue-not-empty"].metric_name == "ApproximateNumberOfMessagesVisible" &&
      aws_cloudwatch_metric_alarm.this["failure-queue-not-empty"].dimensions == tomap({ QueueName = "sidecar-failures" }) &&
      aws_cloudwatch_metric_alarm.this["failure-queue-not-empty"].statistic == "Maximum" &&
      aws_cloudwatch_metric_alarm.this["failure-queue-not-empty"].comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.this["failure-queue-not-empty"].threshold == 0
    )
    error_message = "the failure-queue alarm must watch the failure queue's visible messages (> 0)"
  }
  assert {
    condition = alltrue([
      for k in ["function-errors", "function-throttles", "async-events-dropped", "destination-delivery-failures"] :
      aws_cloudwatch_metric_alarm.this[k].namespace == "AWS/Lambda" && aws_cloudwatch_metric_alarm.this[k].dimensions == tomap({ FunctionName = "sidecar" }) && aws_cloudwatch_metric_alarm.this[k].statistic == "Sum" && aws_cloudwatch_metric_alarm.this[k].threshold == 1
    ]) && [for k in ["function-errors", "function-throttles", "async-events-dropped", "destination-delivery-failures"] : aws_cloudwatch_metric_alarm.this[k].metric_name] == ["Errors", "Throttles", "AsyncEventsDropped", "DestinationDeliveryFailures"]
    error_message = "the Lambda alarms must watch the function's own metrics, one event raising them"
  }
  assert {
    condition = alltrue([
      for k in ["sns-notifications-failed", "sns-dead-letter-failed"] :
      aws_cloudwatch_metric_alarm.this[k].namespace == "AWS/SNS" && aws_cloudwatch_metric_alarm.this[k].dimensions == tomap({ TopicName = "sidecar" })
    ]) && aws_cloudwatch_metric_alarm.this["sns-notifications-failed"].metric_name == "NumberOfNotificationsFailed" && aws_cloudwatch_metric_alarm.this["sns-dead-letter-failed"].metric_name == "NumberOfNotificationsFailedToRedriveToDlq"
    error_message = "the SNS alarms must watch the topic's failed and not dead-lettered deliveries"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["burst-MountError"].namespace == "NfsSidecar" &&
      aws_cloudwatch_metric_alarm.this["burst-MountError"].metric_name == "Failed" &&
      aws_cloudwatch_metric_alarm.this["burst-MountError"].dimensions == tomap({ FunctionName = "sidecar", ErrorType = "MountError" }) &&
      aws_cloudwatch_metric_alarm.this["burst-MountError"].threshold == 5 &&
      aws_cloudwatch_metric_alarm.this["burst-MountError"].comparison_operator == "GreaterThanOrEqualToThreshold"
    )
    error_message = "the burst alarm must watch the function's Failed metric of that error type"
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : a.period == 60 && a.evaluation_periods == 1 && a.treat_missing_data == (a.alarm_name == "sidecar-failure-queue-not-empty" ? "ignore" : "notBreaching") && a.alarm_name == "sidecar-${trimprefix(a.alarm_name, "sidecar-")}" && length(a.alarm_actions) == 0])
    error_message = "alarms must evaluate one 60 s period, treat no data as fine (the failure queue's: keep its state), and be named after the module"
  }
  assert {
    condition     = output.alarm_arns == { for k, a in aws_cloudwatch_metric_alarm.this : k => a.arn } && length(output.alarm_arns) == 10
    error_message = "alarm ARNs must be output by key"
  }

  # Dashboard: one per region (dashboards are global), showing the function's own metrics.
  assert {
    condition     = aws_cloudwatch_dashboard.this[0].dashboard_name == "sidecar-eu-west-1" && output.dashboard_name == "sidecar-eu-west-1"
    error_message = "the dashboard must be named after the module and the region"
  }
  assert {
    condition = (
      [for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.title] == ["Messages per minute", "Failures by error type", "Time per message (ms)", "NFS calls per message, reconnects", "Concurrency", "Queues", "Alarms"] &&
      strcontains(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[1].properties.metrics[0][0].expression, "{\"NfsSidecar\",FunctionName,ErrorType} MetricName=\"Failed\" FunctionName=\"sidecar\"") &&
      jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[0].properties.metrics[0] == ["NfsSidecar", "SidecarsWritten", "FunctionName", "sidecar"] &&
      length(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[6].properties.alarms) == 10
    )
    error_message = "the dashboard must show throughput, failures by type, latency, NFS calls, concurrency, queues and the alarms"
  }
  assert {
    condition     = output.role_arn == aws_iam_role.this.arn && output.function_arn == aws_lambda_function.this.arn && output.function_name == "sidecar"
    error_message = "role and function outputs are wrong"
  }
}

run "vast_ports_and_optional_environment" {
  command = apply

  variables {
    nfs_server                 = "vast.example.internal"
    nfs_cluster_cidrs          = ["10.0.8.0/26", "10.0.9.0/26"]
    nfs_port                   = 2049
    nfs_mount_port             = 2049
    nfs_timeout_ms             = 8000
    nfs_uid                    = 1000
    nfs_gid                    = 0
    sidecar_suffix             = ".meta.json"
    timeout                    = 60
    sidecar_lock_stale_seconds = 120
    metrics_namespace          = "Team/Sidecars"
  }

  assert {
    condition     = toset(keys(aws_vpc_security_group_egress_rule.nfs)) == toset(["tcp-2049-10.0.8.0/26", "tcp-2049-10.0.9.0/26"])
    error_message = "without the portmapper only 2049 must be open, to each cluster CIDR"
  }
  assert {
    condition = aws_lambda_function.this.environment[0].variables == tomap({
      NFS_SERVER                 = "vast.example.internal"
      NFS_EXPORT                 = "/processingresults"
      NFS_PORT                   = "2049"
      NFS_MOUNT_PORT             = "2049"
      NFS_TIMEOUT_MS             = "8000"
      NFS_UID                    = "1000"
      NFS_GID                    = "0"
      SIDECAR_SUFFIX             = ".meta.json"
      SIDECAR_LOCK_STALE_SECONDS = "120"
      METRICS_NAMESPACE          = "Team/Sidecars"
    })
    error_message = "given optional settings must reach the environment"
  }
}

run "portmapper_with_other_mount_port" {
  command = apply

  variables {
    nfs_mount_port = 20048
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_egress_rule.nfs : r.from_port]) == toset([111, 2049, 20048])
    error_message = "with the portmapper, 111, the NFS port and the given mount port must be open"
  }
  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "NFS_PORT") && aws_lambda_function.this.environment[0].variables["NFS_MOUNT_PORT"] == "20048"
    error_message = "only the given port may be set"
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["SIDECAR_LOCK_STALE_SECONDS"] == "60"
    error_message = "lock age defaults to timeout + 30"
  }
}

run "kms_and_account_publisher" {
  command = apply

  variables {
    kms_key_arn    = "arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-1111-2222-3333-444455556666"
    publisher_arns = ["arn:aws:iam::111122223333:role/upstream", "arn:aws:iam::444455556666:root"]
    architecture   = "x86_64"
    runtime        = "python3.13"
  }

  assert {
    condition     = aws_sns_topic.this[0].kms_master_key_id == var.kms_key_arn && aws_sqs_queue.failure[0].kms_master_key_id == var.kms_key_arn && aws_lambda_function.this.kms_key_arn == var.kms_key_arn
    error_message = "the key must encrypt the topic, the failure queue and the environment"
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid] == ["OwnLogGroup", "VpcNetworkInterfaces", "SendToFailureDestination", "UseKmsKey"]
    error_message = "a KMS statement must be added when encryption is on"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.this.policy).Statement[3].Resource == var.kms_key_arn && jsondecode(aws_iam_role_policy.this.policy).Statement[3].Action == ["kms:Decrypt", "kms:GenerateDataKey"]
    error_message = "KMS permissions must be Decrypt + GenerateDataKey on the key only"
  }
  assert {
    condition = jsondecode(aws_sns_topic_policy.this[0].policy).Statement[1].Condition == {
      ArnNotEquals    = { "aws:PrincipalArn" = ["arn:aws:iam::111122223333:role/upstream"] }
      StringNotEquals = { "aws:PrincipalAccount" = ["444455556666"] }
    }
    error_message = "an account publisher must be exempted from the deny by account"
  }
  assert {
    condition     = aws_lambda_function.this.architectures == tolist(["x86_64"]) && aws_lambda_function.this.runtime == "python3.13"
    error_message = "architecture and runtime inputs must reach the function"
  }
}

run "operators_and_explicit_role_name" {
  command   = apply
  state_key = "operators"

  variables {
    operator_arns = ["arn:aws:iam::111122223333:role/operators", "arn:aws:iam::777788889999:root"]
    iam_role_name = "sidecar-eu-west-1"
  }

  assert {
    condition     = jsondecode(aws_sns_topic_policy.this[0].policy).Statement[0].Principal.AWS == ["arn:aws:iam::111122223333:root", "arn:aws:iam::777788889999:root"] && jsondecode(aws_sns_topic_policy.this[0].policy).Statement[0].Condition.ArnLike["aws:PrincipalArn"] == ["arn:aws:iam::111122223333:role/upstream", "arn:aws:iam::111122223333:role/operators", "arn:aws:iam::777788889999:*"]
    error_message = "operators must be allowed to publish (README: test publish, redrive)"
  }
  assert {
    condition = jsondecode(aws_sns_topic_policy.this[0].policy).Statement[1].Condition == {
      ArnNotEquals    = { "aws:PrincipalArn" = ["arn:aws:iam::111122223333:role/upstream", "arn:aws:iam::111122223333:role/operators"] }
      StringNotEquals = { "aws:PrincipalAccount" = ["777788889999"] }
    }
    error_message = "operators must be exempted from the deny"
  }
  assert {
    condition = jsondecode(aws_sqs_queue_policy.failure[0].policy).Statement[1] == {
      Sid       = "AllowOperatorsToRedrive"
      Effect    = "Allow"
      Principal = { AWS = ["arn:aws:iam::111122223333:root", "arn:aws:iam::777788889999:root"] }
      Action    = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
      Resource  = aws_sqs_queue.failure[0].arn
      Condition = { ArnLike = { "aws:PrincipalArn" = ["arn:aws:iam::111122223333:role/operators", "arn:aws:iam::777788889999:*"] } }
    }
    error_message = "operators must be able to read and delete in the failure queue (redrive), nothing more"
  }
  assert {
    # (name_prefix is computed: the mocked provider fills it in, so only the name is asserted)
    condition     = aws_iam_role.this.name == "sidecar-eu-west-1"
    error_message = "an explicit role name must be used as given"
  }
}

run "without_monitoring_and_with_actions" {
  command   = apply
  state_key = "without_monitoring"

  variables {
    create_alarms    = false
    create_dashboard = false
    system_log_level = "WARN"
    log_level        = "DEBUG"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0 && output.alarm_arns == {} && length(aws_cloudwatch_dashboard.this) == 0 && output.dashboard_name == null
    error_message = "no alarms and no dashboard when not wanted"
  }
  assert {
    condition     = aws_lambda_function.this.logging_config[0].system_log_level == "WARN" && aws_lambda_function.this.logging_config[0].application_log_level == "DEBUG"
    error_message = "log levels must follow the inputs"
  }
}

run "alarm_actions_period_and_error_types" {
  command   = apply
  state_key = "alarm_actions"

  variables {
    alarm_actions        = ["arn:aws:sns:eu-west-1:111122223333:on-call"]
    ok_actions           = ["arn:aws:sns:eu-west-1:111122223333:on-call-ok"]
    alarm_period_seconds = 300
    alarm_error_types    = ["SidecarBusy"]
    alarm_error_burst    = 20
    create_dashboard     = false
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : a.alarm_actions == toset(var.alarm_actions) && a.ok_actions == toset(var.ok_actions) && a.period == 300])
    error_message = "every alarm must notify the given actions and use the given period"
  }
  assert {
    condition     = [for k in keys(aws_cloudwatch_metric_alarm.this) : k if startswith(k, "burst-")] == ["burst-SidecarBusy"] && aws_cloudwatch_metric_alarm.this["burst-SidecarBusy"].threshold == 20
    error_message = "burst alarms must follow alarm_error_types and alarm_error_burst"
  }
}

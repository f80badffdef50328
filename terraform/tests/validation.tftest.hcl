# Every input validation and precondition rejects a bad value (plans only, mocked AWS provider).

mock_provider "aws" {
  source = "./tests/mocks"
}

# Inputs: tests/terraform.tfvars, and what each run sets.

run "valid_baseline" {
  command = plan
}

run "name_too_long" {
  command = plan
  variables {
    name = "a-name-that-is-far-too-long-for-the-queue-and-role-names"
  }
  expect_failures = [var.name]
}

run "architecture_unknown" {
  command = plan
  variables {
    architecture = "aarch64"
  }
  expect_failures = [var.architecture]
}

run "runtime_unsupported" {
  command = plan
  variables {
    runtime = "python3.11"
  }
  expect_failures = [var.runtime]
}

run "zip_missing" {
  command = plan
  variables {
    lambda_zip_path = "tests/fixtures/missing.zip"
  }
  expect_failures = [var.lambda_zip_path]
}

run "zip_not_a_zip" {
  command = plan
  variables {
    lambda_zip_path = "tests/mocks/aws.tfmock.hcl"
  }
  expect_failures = [var.lambda_zip_path]
}

run "timeout_too_long" {
  command = plan
  variables {
    timeout = 901
  }
  expect_failures = [var.timeout]
}

run "memory_too_small" {
  command = plan
  variables {
    memory_size = 64
  }
  expect_failures = [var.memory_size]
}

run "reserved_concurrency_zero" {
  command = plan
  variables {
    reserved_concurrent_executions = 0
  }
  expect_failures = [var.reserved_concurrent_executions]
}

run "retention_not_allowed" {
  command = plan
  variables {
    log_retention_in_days = 2
  }
  expect_failures = [var.log_retention_in_days]
}

run "log_level_unknown" {
  command = plan
  variables {
    log_level = "VERBOSE"
  }
  expect_failures = [var.log_level]
}

run "nfs_server_with_scheme" {
  command = plan
  variables {
    nfs_server = "nfs://10.0.8.10/"
  }
  expect_failures = [var.nfs_server]
}

run "nfs_export_relative" {
  command = plan
  variables {
    nfs_export = "processingresults"
  }
  expect_failures = [var.nfs_export]
}

run "nfs_port_zero" {
  command = plan
  variables {
    nfs_port = 0
  }
  expect_failures = [var.nfs_port]
}

run "nfs_mount_port_too_high" {
  command = plan
  variables {
    nfs_mount_port = 65536
  }
  expect_failures = [var.nfs_mount_port]
}

run "nfs_uid_negative" {
  command = plan
  variables {
    nfs_uid = -1
  }
  expect_failures = [var.nfs_uid]
}

run "sidecar_suffix_with_slash" {
  command = plan
  variables {
    sidecar_suffix = "/sidecar.json"
  }
  expect_failures = [var.sidecar_suffix]
}

run "subnets_empty" {
  command = plan
  variables {
    subnet_ids = []
  }
  expect_failures = [var.subnet_ids]
}

run "subnet_id_malformed" {
  command = plan
  variables {
    subnet_ids = ["10.0.1.0/24"]
  }
  expect_failures = [var.subnet_ids]
}

run "cluster_cidr_invalid" {
  command = plan
  variables {
    nfs_cluster_cidrs = ["10.0.8.300/32"]
  }
  expect_failures = [var.nfs_cluster_cidrs]
}

run "security_group_id_malformed" {
  command = plan
  variables {
    create_security_group = false
    security_group_ids    = ["default"]
  }
  expect_failures = [var.security_group_ids]
}

run "publisher_wildcard" {
  command = plan
  variables {
    publisher_arns = ["*"]
  }
  expect_failures = [var.publisher_arns]
}

run "topic_arn_malformed" {
  command = plan
  variables {
    create_topic = false
    topic_arn    = "upstream-results"
  }
  expect_failures = [var.topic_arn]
}

run "kms_alias_rejected" {
  command = plan
  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:alias/sidecar"
  }
  expect_failures = [var.kms_key_arn]
}

run "delivery_unknown" {
  command = plan
  variables {
    delivery = "kinesis"
  }
  expect_failures = [var.delivery]
}

run "filter_policy_not_json_object" {
  command = plan
  variables {
    filter_policy = "filename=runs/*"
  }
  expect_failures = [var.filter_policy]
}

run "filter_policy_scope_unknown" {
  command = plan
  variables {
    filter_policy_scope = "Body"
  }
  expect_failures = [var.filter_policy_scope]
}

run "retries_too_many" {
  command = plan
  variables {
    maximum_retry_attempts = 3
  }
  expect_failures = [var.maximum_retry_attempts]
}

run "event_age_too_short" {
  command = plan
  variables {
    maximum_event_age_in_seconds = 30
  }
  expect_failures = [var.maximum_event_age_in_seconds]
}

run "sqs_batch_too_large" {
  command = plan
  variables {
    sqs_batch_size = 11
  }
  expect_failures = [var.sqs_batch_size]
}

run "sqs_batching_window_too_long" {
  command = plan
  variables {
    sqs_maximum_batching_window_in_seconds = 301
  }
  expect_failures = [var.sqs_maximum_batching_window_in_seconds]
}

run "sqs_batching_window_negative" {
  command = plan
  variables {
    sqs_maximum_batching_window_in_seconds = -1
  }
  expect_failures = [var.sqs_maximum_batching_window_in_seconds]
}

run "sqs_batching_window_fractional" {
  command = plan
  variables {
    sqs_maximum_batching_window_in_seconds = 1.5
  }
  expect_failures = [var.sqs_maximum_batching_window_in_seconds]
}

run "sqs_batching_window_limits" {
  command = plan
  variables {
    delivery                               = "sqs"
    sqs_maximum_batching_window_in_seconds = 300
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this[0].maximum_batching_window_in_seconds == 300
    error_message = "300 s, the longest window SQS allows, must be accepted"
  }
}

run "sqs_concurrency_one" {
  command = plan
  variables {
    sqs_maximum_concurrency = 1
  }
  expect_failures = [var.sqs_maximum_concurrency]
}

run "system_log_level_unknown" {
  command = plan
  variables {
    system_log_level = "ERROR"
  }
  expect_failures = [var.system_log_level]
}

run "iam_role_name_too_long" {
  command = plan
  variables {
    iam_role_name = "a-role-name-that-is-far-too-long-for-iam-which-allows-sixty-four-characters"
  }
  expect_failures = [var.iam_role_name]
}

run "operator_wildcard" {
  command = plan
  variables {
    operator_arns = ["arn:aws:iam::111122223333:role/*"]
  }
  expect_failures = [var.operator_arns]
}

run "alarm_period_not_allowed" {
  command = plan
  variables {
    alarm_period_seconds = 45
  }
  expect_failures = [var.alarm_period_seconds]
}

run "alarm_action_not_an_arn" {
  command = plan
  variables {
    alarm_actions = ["on-call@example.com"]
  }
  expect_failures = [var.alarm_actions]
}

run "alarm_error_type_malformed" {
  command = plan
  variables {
    alarm_error_types = ["Mount Error"]
  }
  expect_failures = [var.alarm_error_types]
}

run "metrics_namespace_reserved" {
  command = plan
  variables {
    metrics_namespace = "AWS/Lambda"
  }
  expect_failures = [var.metrics_namespace]
}

# Preconditions: combinations of inputs.

run "existing_topic_without_arn" {
  command = plan
  variables {
    create_topic = false
  }
  expect_failures = [aws_sns_topic_subscription.this]
}

run "created_topic_without_publishers" {
  command = plan
  variables {
    publisher_arns = []
  }
  expect_failures = [aws_sns_topic.this]
}

run "created_security_group_without_vpc" {
  command = plan
  variables {
    vpc_id = null
  }
  expect_failures = [aws_security_group.this]
}

run "host_name_server_without_cidrs" {
  command = plan
  variables {
    nfs_server = "vast.example.internal"
  }
  expect_failures = [aws_security_group.this]
}

run "host_name_server_with_cidrs" {
  command = plan
  variables {
    nfs_server        = "vast.example.internal"
    nfs_cluster_cidrs = ["10.0.8.0/26"]
  }
}

run "no_security_group" {
  command = plan
  variables {
    create_security_group = false
  }
  expect_failures = [aws_lambda_function.this]
}

run "lock_age_not_above_timeout" {
  command = plan
  variables {
    timeout                    = 60
    sidecar_lock_stale_seconds = 60
  }
  expect_failures = [aws_lambda_function.this]
}

run "zip_built_for_other_architecture" {
  command = plan
  variables {
    lambda_zip_path = "tests/fixtures/function-x86_64.zip"
  }
  expect_failures = [aws_lambda_function.this]
}

run "zip_architecture_matches" {
  command = plan
  variables {
    lambda_zip_path = "tests/fixtures/function-x86_64.zip"
    architecture    = "x86_64"
  }
}

run "sqs_concurrency_above_reserved" {
  command = plan
  variables {
    delivery                = "sqs"
    sqs_maximum_concurrency = 50
  }
  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "sqs_timeout_too_short_for_the_nfs_timeout" {
  command = plan
  variables {
    delivery       = "sqs"
    timeout        = 10
    nfs_timeout_ms = 5000
  }
  expect_failures = [check.sqs_time_budget]
}

# A batch needs a call into its timeout and then a mount afresh (bounded by twice the timeout).
run "sqs_timeout_under_three_nfs_timeouts" {
  command = plan
  variables {
    delivery       = "sqs"
    timeout        = 15
    nfs_timeout_ms = 5000
  }
  expect_failures = [check.sqs_time_budget]
}

run "sqs_timeout_covers_the_nfs_timeout" {
  command = plan
  variables {
    delivery       = "sqs"
    timeout        = 2
    nfs_timeout_ms = 500
  }
}

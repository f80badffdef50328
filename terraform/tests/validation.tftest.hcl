# Every input validation and precondition rejects a bad value (plans only, mocked AWS provider).

mock_provider "aws" {
  source = "./tests/mocks"
}

# Inputs: tests/terraform.tfvars, and what each run sets.

run "valid_baseline" {
  command = plan
}

# Every input's validation refuses a bad value. One plan sets them all, as no validation reads
# anything but its own variable (a test in tests/terraform keeps it so), and each must fail:
# terraform test names any that did not.
run "each_input_refuses_a_bad_value" {
  command = plan
  variables {
    name                                   = "a-name-that-is-far-too-long-for-the-queue-and-role-names"
    architecture                           = "aarch64"
    runtime                                = "python3.11"
    lambda_zip_path                        = "tests/fixtures/missing.zip"
    timeout                                = 901
    memory_size                            = 64
    reserved_concurrent_executions         = 0
    log_retention_in_days                  = 2
    log_level                              = "VERBOSE"
    nfs_server                             = "nfs://10.0.8.10/"
    nfs_export                             = "processingresults"
    nfs_port                               = 0
    nfs_mount_port                         = 65536
    nfs_uid                                = -1
    sidecar_suffix                         = "/sidecar.json"
    subnet_ids                             = []
    nfs_cluster_cidrs                      = ["10.0.8.300/32"]
    publisher_arns                         = ["*"]
    kms_key_arn                            = "arn:aws:kms:eu-west-1:111122223333:alias/sidecar"
    delivery                               = "kinesis"
    filter_policy                          = "filename=runs/*"
    filter_policy_scope                    = "Body"
    maximum_retry_attempts                 = 3
    maximum_event_age_in_seconds           = 30
    sqs_batch_size                         = 11
    sqs_maximum_batching_window_in_seconds = 301
    sqs_maximum_concurrency                = 1
    system_log_level                       = "ERROR"
    iam_role_name                          = "a-role-name-that-is-far-too-long-for-iam-which-allows-sixty-four-characters"
    operator_arns                          = ["arn:aws:iam::111122223333:role/*"]
    alarm_period_seconds                   = 45
    alarm_actions                          = ["on-call@example.com"]
    alarm_error_types                      = ["Mount Error"]
    metrics_namespace                      = "AWS/Lambda"
  }
  expect_failures = [
    var.name,
    var.architecture,
    var.runtime,
    var.lambda_zip_path,
    var.timeout,
    var.memory_size,
    var.reserved_concurrent_executions,
    var.log_retention_in_days,
    var.log_level,
    var.nfs_server,
    var.nfs_export,
    var.nfs_port,
    var.nfs_mount_port,
    var.nfs_uid,
    var.sidecar_suffix,
    var.subnet_ids,
    var.nfs_cluster_cidrs,
    var.publisher_arns,
    var.kms_key_arn,
    var.delivery,
    var.filter_policy,
    var.filter_policy_scope,
    var.maximum_retry_attempts,
    var.maximum_event_age_in_seconds,
    var.sqs_batch_size,
    var.sqs_maximum_batching_window_in_seconds,
    var.sqs_maximum_concurrency,
    var.system_log_level,
    var.iam_role_name,
    var.operator_arns,
    var.alarm_period_seconds,
    var.alarm_actions,
    var.alarm_error_types,
    var.metrics_namespace,
  ]
}

run "some_inputs_refuse_another_kind_of_bad_value" {
  command = plan
  variables {
    lambda_zip_path                        = "tests/mocks/aws.tfmock.hcl"
    subnet_ids                             = ["10.0.1.0/24"]
    sqs_maximum_batching_window_in_seconds = -1
  }
  expect_failures = [
    var.lambda_zip_path,
    var.subnet_ids,
    var.sqs_maximum_batching_window_in_seconds,
  ]
}

run "security_group_id_malformed" {
  command = plan
  variables {
    create_security_group = false
    security_group_ids    = ["default"]
  }
  expect_failures = [var.security_group_ids]
}

run "topic_arn_malformed" {
  command = plan
  variables {
    create_topic = false
    topic_arn    = "upstream-results"
  }
  expect_failures = [var.topic_arn]
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

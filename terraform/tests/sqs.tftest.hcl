# Delivery through an SQS queue (SNS -> SQS -> event source mapping), and the "existing resources"
# variants, with a mocked AWS provider.

mock_provider "aws" {
  source = "./tests/mocks"
}

# Inputs: tests/terraform.tfvars, these, and what each run sets.
variables {
  nfs_port       = 2049
  nfs_mount_port = 2049
  subnet_ids     = ["subnet-0a1b2c3d", "subnet-0e1f2a3b"]
  delivery       = "sqs"
}

run "sqs_delivery" {
  command = apply

  assert {
    condition     = aws_sns_topic_subscription.this.protocol == "sqs" && aws_sns_topic_subscription.this.endpoint == aws_sqs_queue.delivery[0].arn && aws_sns_topic_subscription.this.topic_arn == aws_sns_topic.this[0].arn
    error_message = "the topic must be subscribed to the delivery queue"
  }
  assert {
    condition     = aws_sns_topic_subscription.this.raw_message_delivery == false
    error_message = "raw message delivery must be off: the function reads SNS envelopes from SQS bodies"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this[0].event_source_arn == aws_sqs_queue.delivery[0].arn && aws_lambda_event_source_mapping.this[0].function_name == aws_lambda_function.this.arn
    error_message = "the event source mapping must connect the delivery queue to the function"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this[0].function_response_types == toset(["ReportBatchItemFailures"]) && aws_lambda_event_source_mapping.this[0].batch_size == 10
    error_message = "the mapping must report batch item failures"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this[0].maximum_batching_window_in_seconds == 0
    error_message = "by default the mapping must invoke without waiting to fill a batch"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this[0].scaling_config[0].maximum_concurrency == 10
    error_message = "maximum concurrency must default to the reserved concurrency"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.delivery[0].redrive_policy) == { deadLetterTargetArn = aws_sqs_queue.failure[0].arn, maxReceiveCount = 5 }
    error_message = "the delivery queue must redrive to the failure queue after 5 receives"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.failure[0].redrive_allow_policy).sourceQueueArns == [aws_sqs_queue.delivery[0].arn] && aws_sqs_queue_redrive_allow_policy.failure[0].queue_url == aws_sqs_queue.failure[0].id
    error_message = "only the delivery queue may use the dead-letter queue"
  }
  assert {
    condition     = aws_sqs_queue.delivery[0].visibility_timeout_seconds == 180 && aws_sqs_queue.delivery[0].name == "sidecar" && aws_sqs_queue.delivery[0].sqs_managed_sse_enabled == true
    error_message = "the delivery queue must be encrypted with a visibility timeout of six function timeouts"
  }
  assert {
    condition = jsondecode(aws_sqs_queue_policy.delivery[0].policy).Statement == [{
      Sid       = "AllowTopic"
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.delivery[0].arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_sns_topic.this[0].arn } }
    }]
    error_message = "only the topic may send to the delivery queue"
  }
  assert {
    condition     = length(aws_lambda_permission.sns) == 0 && length(aws_lambda_function_event_invoke_config.this) == 0
    error_message = "SQS delivery must not grant SNS invoke permission nor configure async invocation"
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid] == ["OwnLogGroup", "VpcNetworkInterfaces", "ConsumeDeliveryQueue"]
    error_message = "the role must consume the delivery queue and not send to the failure queue"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.this.policy).Statement[2].Resource == aws_sqs_queue.delivery[0].arn && toset(jsondecode(aws_iam_role_policy.this.policy).Statement[2].Action) == toset(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"])
    error_message = "queue permissions must be the three the event source mapping needs, on the delivery queue"
  }
  assert {
    condition     = output.delivery_queue_arn == aws_sqs_queue.delivery[0].arn && output.failure_queue_arn == aws_sqs_queue.failure[0].arn && output.subscription_arn == aws_sns_topic_subscription.this.arn
    error_message = "queue outputs are wrong"
  }
  assert {
    condition     = toset(keys(aws_vpc_security_group_egress_rule.nfs)) == toset(["tcp-2049-10.0.8.10/32"])
    error_message = "with both ports given only 2049 must be open"
  }

  # What SNS cannot deliver to the delivery queue (its policy, its key) goes to the failure queue.
  assert {
    condition     = jsondecode(aws_sns_topic_subscription.this.redrive_policy) == { deadLetterTargetArn = aws_sqs_queue.failure[0].arn }
    error_message = "the subscription must dead-letter to the failure queue in sqs delivery too"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_policy.failure[0].policy).Statement[0].Principal == { Service = "sns.amazonaws.com" } && jsondecode(aws_sqs_queue_policy.failure[0].policy).Statement[0].Condition == { ArnEquals = { "aws:SourceArn" = aws_sns_topic.this[0].arn } }
    error_message = "the topic must be admitted to the failure queue"
  }

  # Alarms of the SQS path: the delivery queue's age instead of Lambda's asynchronous queue.
  assert {
    condition = toset(keys(aws_cloudwatch_metric_alarm.this)) == toset([
      "failure-queue-not-empty", "delivery-queue-oldest-message", "function-errors", "function-throttles",
      "sns-notifications-failed", "sns-dead-letter-failed", "burst-MountError", "burst-NfsTimeout", "burst-NfsConnectionError",
    ])
    error_message = "sqs delivery must have its alarms (no asynchronous-invocation alarms)"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["delivery-queue-oldest-message"].metric_name == "ApproximateAgeOfOldestMessage" &&
      aws_cloudwatch_metric_alarm.this["delivery-queue-oldest-message"].dimensions == tomap({ QueueName = "sidecar" }) &&
      aws_cloudwatch_metric_alarm.this["delivery-queue-oldest-message"].threshold == 1800
    )
    error_message = "the delivery queue's oldest message must be watched"
  }
  assert {
    condition     = [for m in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[5].properties.metrics : m[3]] == ["sidecar-failures", "sidecar", "sidecar"]
    error_message = "the dashboard must show the failure queue and the delivery queue"
  }
}

run "sqs_with_kms_and_filter" {
  command = apply

  variables {
    kms_key_arn                            = "arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-1111-2222-3333-444455556666"
    filter_policy                          = "{\"filename\":[{\"prefix\":\"runs/\"}]}"
    filter_policy_scope                    = "MessageBody"
    reserved_concurrent_executions         = 20
    sqs_maximum_concurrency                = 5
    sqs_batch_size                         = 1
    sqs_maximum_batching_window_in_seconds = 20
    sqs_max_receive_count                  = 3
  }

  assert {
    condition     = aws_sqs_queue.delivery[0].kms_master_key_id == var.kms_key_arn && aws_sqs_queue.failure[0].kms_master_key_id == var.kms_key_arn
    error_message = "the key must encrypt both queues"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.this.policy).Statement[3].Sid == "UseKmsKey" && jsondecode(aws_iam_role_policy.this.policy).Statement[3].Action == ["kms:Decrypt"]
    error_message = "the SQS mode only needs kms:Decrypt"
  }
  assert {
    condition     = aws_sns_topic_subscription.this.filter_policy == var.filter_policy && aws_sns_topic_subscription.this.filter_policy_scope == "MessageBody"
    error_message = "the filter policy must be set on the subscription"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this[0].scaling_config[0].maximum_concurrency == 5 && aws_lambda_event_source_mapping.this[0].batch_size == 1 && aws_lambda_event_source_mapping.this[0].maximum_batching_window_in_seconds == 20
    error_message = "maximum concurrency, batch size and batching window must follow the inputs"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.delivery[0].redrive_policy).maxReceiveCount == 3
    error_message = "sqs_max_receive_count must reach the redrive policy"
  }
}

run "sqs_unreserved_without_failure_queue" {
  command = apply
  # Own state: a fresh deployment, not an update of the previous run's resources.
  state_key = "sqs_unreserved_without_failure_queue"

  variables {
    reserved_concurrent_executions = null
    create_failure_queue           = false
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this[0].scaling_config) == 0 && aws_lambda_function.this.reserved_concurrent_executions == null
    error_message = "no maximum concurrency without reserved concurrency or an explicit value"
  }
  assert {
    condition = length(aws_sqs_queue.failure) == 0 && length(aws_sqs_queue_redrive_allow_policy.failure) == 0 && !can(jsondecode(aws_sqs_queue.delivery[0].redrive_policy).deadLetterTargetArn)
    # redrive_policy is optional+computed: left unset, the mock fills in a random non-JSON string.
    error_message = "without the failure queue there must be no redrive"
  }
  assert {
    condition     = output.failure_queue_arn == null && output.failure_queue_url == null
    error_message = "failure queue outputs must be null when it is not created"
  }
  assert {
    condition     = length(aws_sqs_queue_policy.failure) == 0 && !contains(keys(aws_cloudwatch_metric_alarm.this), "failure-queue-not-empty")
    error_message = "without the failure queue there is no queue policy and no failure-queue alarm"
  }
}

run "sqs_without_monitoring" {
  command   = apply
  state_key = "sqs_without_monitoring"

  variables {
    create_alarms    = false
    create_dashboard = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0 && length(aws_cloudwatch_dashboard.this) == 0 && output.alarm_arns == {}
    error_message = "no alarms and no dashboard when not wanted"
  }
}

run "existing_topic_and_security_group" {
  command = apply
  # Own state: a fresh deployment, not an update of the previous run's resources.
  state_key = "existing_topic_and_security_group"

  variables {
    delivery              = "direct"
    create_topic          = false
    topic_arn             = "arn:aws:sns:eu-west-1:444455556666:upstream-results"
    publisher_arns        = []
    create_security_group = false
    vpc_id                = null
    security_group_ids    = ["sg-0fedcba9876543210"]
    create_failure_queue  = false
  }

  assert {
    condition     = length(aws_sns_topic.this) == 0 && length(aws_sns_topic_policy.this) == 0 && output.topic_arn == var.topic_arn
    error_message = "an existing topic must be used as it is"
  }
  assert {
    condition     = aws_sns_topic_subscription.this.topic_arn == var.topic_arn && aws_lambda_permission.sns[0].source_arn == var.topic_arn
    error_message = "subscription and permission must refer to the existing topic"
  }
  assert {
    condition     = length(aws_security_group.this) == 0 && length(aws_vpc_security_group_egress_rule.nfs) == 0 && aws_lambda_function.this.vpc_config[0].security_group_ids == toset(["sg-0fedcba9876543210"]) && output.security_group_id == null
    error_message = "given security groups must be used instead of a created one"
  }
  assert {
    condition     = length(aws_lambda_function_event_invoke_config.this[0].destination_config) == 0 && [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid] == ["OwnLogGroup", "VpcNetworkInterfaces"]
    error_message = "without the failure queue there is no destination and no SQS permission"
  }
}

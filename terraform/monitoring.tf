################################################################################
# Alarms: every way a notification can fail or wait shows up as an alarm
################################################################################

locals {
  function_name = aws_lambda_function.this.function_name
  # Regional resources; dashboards are global to the account, so their name carries the region.
  region     = split(":", aws_lambda_function.this.arn)[3]
  topic_name = try(split(":", local.topic_arn)[5], "") # null topic_arn: a precondition says so

  on_function = { FunctionName = local.function_name }
  on_topic    = { TopicName = local.topic_name }

  # key (the alarm is "<name>-<key>") -> what it watches. Threshold and statistic are chosen so
  # that one bad event in one period raises it; missing data (nothing happened) is not breaching,
  # except where noted.
  alarms = merge(
    var.create_failure_queue ? {
      failure-queue-not-empty = {
        description = "Notifications are waiting in the failure queue ${aws_sqs_queue.failure[0].name} (kept 14 days): read the reason of each (scripts/redrive.py --dry-run), fix the cause, then redrive."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = aws_sqs_queue.failure[0].name }
        statistic   = "Maximum"
        threshold   = 0
        comparison  = "GreaterThanThreshold"
      }
    } : {},
    local.sqs ? {
      delivery-queue-oldest-message = {
        description = "A message has waited in the delivery queue ${aws_sqs_queue.delivery[0].name} for over ${var.delivery_queue_age_alarm_seconds} s: the function is failing, throttled, or the cluster is slow."
        namespace   = "AWS/SQS"
        metric      = "ApproximateAgeOfOldestMessage"
        dimensions  = { QueueName = aws_sqs_queue.delivery[0].name }
        statistic   = "Maximum"
        threshold   = var.delivery_queue_age_alarm_seconds
        comparison  = "GreaterThanThreshold"
      }
    } : {},
    {
      function-errors = {
        description = "The function failed invocations. The reasons are in its log group (outcome \"failed\", error_type) and, after the retries, in the failure queue."
        namespace   = "AWS/Lambda"
        metric      = "Errors"
        dimensions  = local.on_function
        statistic   = "Sum"
        threshold   = 1
        comparison  = "GreaterThanOrEqualToThreshold"
      }
      function-throttles = {
        description = "Invocations were throttled at the reserved concurrency (${coalesce(var.reserved_concurrent_executions, "unreserved")}): messages wait (and age) instead of running."
        namespace   = "AWS/Lambda"
        metric      = "Throttles"
        dimensions  = local.on_function
        statistic   = "Sum"
        threshold   = 1
        comparison  = "GreaterThanOrEqualToThreshold"
      }
    },
    # SNS metrics live in the topic owner's account: alarms here would stay OK forever.
    local.topic_in_account ? {
      sns-notifications-failed = {
        description = "SNS could not deliver notifications of topic ${local.topic_name} to a subscriber (missing permission, a KMS key SNS may not use, the endpoint gone). This module's subscription sends them to its dead-letter queue (the failure queue)."
        namespace   = "AWS/SNS"
        metric      = "NumberOfNotificationsFailed"
        dimensions  = local.on_topic
        statistic   = "Sum"
        threshold   = 1
        comparison  = "GreaterThanOrEqualToThreshold"
      }
      sns-dead-letter-failed = {
        description = "SNS could not put undeliverable notifications of topic ${local.topic_name} into the dead-letter queue either: they are lost. Check the failure queue's policy and KMS key policy."
        namespace   = "AWS/SNS"
        metric      = "NumberOfNotificationsFailedToRedriveToDlq"
        dimensions  = local.on_topic
        statistic   = "Sum"
        threshold   = 1
        comparison  = "GreaterThanOrEqualToThreshold"
      }
    } : {},
    local.sqs ? {} : {
      async-events-dropped = {
        description = "Lambda gave up on asynchronous events of the function (too old, or retries exhausted). Each is in the failure queue (the on-failure destination) when it was created and reachable; otherwise (create_failure_queue = false, or destination-delivery-failures) it is lost."
        namespace   = "AWS/Lambda"
        metric      = "AsyncEventsDropped"
        dimensions  = local.on_function
        statistic   = "Sum"
        threshold   = 1
        comparison  = "GreaterThanOrEqualToThreshold"
      }
      destination-delivery-failures = {
        description = "Lambda could not send failed events to the on-failure destination (the failure queue): check the role's sqs:SendMessage and the queue's KMS key."
        namespace   = "AWS/Lambda"
        metric      = "DestinationDeliveryFailures"
        dimensions  = local.on_function
        statistic   = "Sum"
        threshold   = 1
        comparison  = "GreaterThanOrEqualToThreshold"
      }
    },
    {
      for error_type in var.alarm_error_types : "burst-${error_type}" => {
        description = "${var.alarm_error_burst} or more messages failed with ${error_type} within ${var.alarm_period_seconds} s (the function's own metric): a problem of the cluster or the network rather than of one publisher. See the troubleshooting table of docs/operations.md."
        namespace   = var.metrics_namespace
        metric      = "Failed"
        dimensions  = merge(local.on_function, { ErrorType = error_type })
        statistic   = "Sum"
        threshold   = var.alarm_error_burst
        comparison  = "GreaterThanOrEqualToThreshold"
      }
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.create_alarms ? local.alarms : {}

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  # SQS may stop sending metrics for a queue nobody touches: the failure-queue alarm keeps its last
  # state rather than going back to OK (and notifying ok_actions) while a message still waits.
  treat_missing_data = each.key == "failure-queue-not-empty" ? "ignore" : "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions

  tags = var.tags
}

################################################################################
# Dashboard
################################################################################

locals {
  ns      = var.metrics_namespace
  period  = 60
  by_type = "SEARCH('{\"${local.ns}\",FunctionName,ErrorType} MetricName=\"Failed\" FunctionName=\"${local.function_name}\"', 'Sum', ${local.period})"

  queue_metrics = concat(
    var.create_failure_queue ? [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.failure[0].name, { label = "failure queue" }]] : [],
    local.sqs ? [
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.delivery[0].name, { label = "delivery queue" }],
      ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.delivery[0].name, { label = "oldest in delivery queue (s)", yAxis = "right" }],
    ] : [],
  )

  widgets = concat(
    [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title = "Messages per minute", region = local.region, stat = "Sum", period = local.period, view = "timeSeries"
          metrics = [
            [local.ns, "SidecarsWritten", "FunctionName", local.function_name],
            [local.ns, "SkippedOlder", "FunctionName", local.function_name],
            [local.ns, "Failed", "FunctionName", local.function_name],
            [local.ns, "Deferred", "FunctionName", local.function_name],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Failures by error type", region = local.region, period = local.period, view = "timeSeries"
          metrics = [[{ expression = local.by_type, id = "by_type", label = "" }]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title = "Time per message (ms)", region = local.region, period = local.period, view = "timeSeries"
          metrics = [
            [local.ns, "Duration", "FunctionName", local.function_name, { stat = "p50", label = "p50" }],
            [local.ns, "Duration", "FunctionName", local.function_name, { stat = "p90", label = "p90" }],
            [local.ns, "Duration", "FunctionName", local.function_name, { stat = "p99", label = "p99" }],
            ["AWS/Lambda", "Duration", "FunctionName", local.function_name, { stat = "p99", label = "invocation p99" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title = "NFS calls per message, reconnects", region = local.region, period = local.period, view = "timeSeries"
          metrics = [
            [local.ns, "NfsCalls", "FunctionName", local.function_name, { stat = "Average", label = "NFS calls per message" }],
            [local.ns, "Reconnects", "FunctionName", local.function_name, { stat = "Sum", label = "reconnects", yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = merge(
          {
            title = "Concurrency", region = local.region, period = local.period, view = "timeSeries"
            metrics = [
              ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", local.function_name, { stat = "Maximum", label = "concurrent executions" }],
              ["AWS/Lambda", "Throttles", "FunctionName", local.function_name, { stat = "Sum", label = "throttles", yAxis = "right" }],
            ]
          },
          var.reserved_concurrent_executions == null ? {} : {
            annotations = { horizontal = [{ label = "reserved concurrency", value = var.reserved_concurrent_executions }] }
          },
        )
      },
    ],
    length(local.queue_metrics) > 0 ? [
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title   = "Queues", region = local.region, stat = "Maximum", period = local.period, view = "timeSeries"
          metrics = local.queue_metrics
        }
      },
    ] : [],
    var.create_alarms ? [
      {
        type = "alarm", x = 0, y = 18, width = 24, height = 4
        properties = {
          title  = "Alarms"
          alarms = [for a in aws_cloudwatch_metric_alarm.this : a.arn]
        }
      },
    ] : [],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = "${var.name}-${local.region}"
  dashboard_body = jsonencode({ widgets = local.widgets })
}

output "topic_arn" {
  description = "ARN of the SNS topic the function is subscribed to (created or given); publishers send `{\"filename\": ..., \"results\": ...}` here."
  value       = local.topic_arn
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "security_group_id" {
  description = "ID of the security group the module created (null when `security_group_ids` were given)."
  value       = one(aws_security_group.this[*].id)
}

output "failure_queue_name" {
  description = "Name of the SQS failure queue: on-failure destination (direct) or dead-letter queue (sqs), and the subscription's dead-letter queue in both. Null when not created."
  value       = one(aws_sqs_queue.failure[*].name)
}

output "failure_queue_url" {
  description = "URL of the SQS failure queue. Null when not created."
  value       = one(aws_sqs_queue.failure[*].url)
}

output "failure_queue_arn" {
  description = "ARN of the SQS failure queue. Null when not created."
  value       = one(aws_sqs_queue.failure[*].arn)
}

output "delivery_queue_url" {
  description = "URL of the SQS delivery queue between the topic and the function (`sqs` delivery only, else null)."
  value       = one(aws_sqs_queue.delivery[*].url)
}

output "delivery_queue_arn" {
  description = "ARN of the SQS delivery queue (`sqs` delivery only, else null)."
  value       = one(aws_sqs_queue.delivery[*].arn)
}

output "subscription_arn" {
  description = "ARN of the topic subscription (to the function or to the delivery queue)."
  value       = aws_sns_topic_subscription.this.arn
}

output "alarm_arns" {
  description = "ARNs of the CloudWatch alarms by key (`failure-queue-not-empty`, `function-errors`, `burst-MountError`, ...; the alarm is named `<name>-<key>`). Empty when `create_alarms` is false."
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.arn }
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (null when `create_dashboard` is false)."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_name)
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the function's metrics (dimension `FunctionName`; `Failed` also by `ErrorType`)."
  value       = var.metrics_namespace
}

output "operator_policy_json" {
  description = "IAM policy (JSON) to attach to the operators' roles or users in this account: invoke the function (`make check-deployment`, the post-deploy probe), publish a test notification, read and delete in the failure queue and publish again (`scripts/redrive.py`), read the function's logs, and use `kms_key_arn` when set. The module's resource policies admit `operator_arns`; this is the identity side. Operators of other accounts assume a role in this account to invoke the function (Lambda's resource policy cannot be narrowed by principal ARN)."
  value       = jsonencode({ Version = "2012-10-17", Statement = local.operator_statements })
}

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
  description = "Name of the SQS failure queue: on-failure destination (direct) or dead-letter queue (sqs). Null when not created."
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

output "topic_arn" {
  description = "Topic to publish `{\"filename\": ..., \"results\": ...}` notifications to."
  value       = module.nfs_sidecar.topic_arn
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = module.nfs_sidecar.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = module.nfs_sidecar.function_arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = module.nfs_sidecar.role_arn
}

output "log_group_name" {
  description = "Log group of the function."
  value       = module.nfs_sidecar.log_group_name
}

output "security_group_id" {
  description = "Security group of the function."
  value       = module.nfs_sidecar.security_group_id
}

output "delivery_queue_url" {
  description = "Queue between the topic and the function (sqs delivery)."
  value       = module.nfs_sidecar.delivery_queue_url
}

output "failure_queue_url" {
  description = "Where failed notifications end up."
  value       = module.nfs_sidecar.failure_queue_url
}

output "failure_queue_arn" {
  description = "ARN of the failure queue."
  value       = module.nfs_sidecar.failure_queue_arn
}

output "alarm_arns" {
  description = "The alarms, by key."
  value       = module.nfs_sidecar.alarm_arns
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = module.nfs_sidecar.dashboard_name
}

output "operator_policy_json" {
  description = "IAM policy for the operators' roles: invoke the post-deploy probe (`make check-deployment`), publish, redrive, read logs."
  value       = module.nfs_sidecar.operator_policy_json
}

variable "region" {
  description = "AWS region of the VPC and the cluster."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name of the function and prefix of the other resources."
  type        = string
  default     = "nfs-sidecar"
}

variable "lambda_zip_path" {
  description = "Path of the function zip built by the project, e.g. `../../../dist/nfs-sidecar-0.1.0-arm64.zip`."
  type        = string
}

variable "architecture" {
  description = "Architecture the zip was built for: arm64 or x86_64."
  type        = string
  default     = "arm64"
}

variable "nfs_server" {
  description = "Address of the cluster: a VAST VIP, or a DNS name of the VIP pool."
  type        = string
}

variable "nfs_export" {
  description = "Export path on the cluster, e.g. `/processingresults`."
  type        = string
}

variable "nfs_cluster_cidrs" {
  description = "CIDR blocks of the cluster's VIPs (the security group allows egress to them only)."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC where the function runs."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of that VPC with a route to the cluster's VIPs."
  type        = list(string)
}

variable "publisher_arns" {
  description = "IAM roles or users (or account roots) allowed to publish to the topic."
  type        = list(string)
}

variable "operator_arns" {
  description = "IAM roles or users (or account roots) of the operators: they may publish test notifications and redrive the failure queue."
  type        = list(string)
  default     = []
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires or clears, e.g. the on-call team's SNS topic."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "Optional customer managed KMS key for the topic, queues and environment."
  type        = string
  default     = null
}

variable "delivery" {
  description = "`sqs` (SNS -> SQS -> Lambda) or `direct` (SNS -> Lambda)."
  type        = string
  default     = "sqs"
}

variable "reserved_concurrent_executions" {
  description = "Most concurrent function instances, hence NFS clients, against the cluster."
  type        = number
  default     = 10
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { Project = "nfs-sidecar" }
}

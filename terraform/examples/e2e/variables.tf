variable "region" {
  description = "AWS region (any region for an emulator)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the function and prefix of the other resources."
  type        = string
  default     = "nfs-sidecar-e2e"
}

variable "lambda_zip_path" {
  description = "Path of the function zip, e.g. `../../../dist/nfs-sidecar-0.1.0-x86_64.zip`."
  type        = string
}

variable "architecture" {
  description = "arm64 or x86_64. Null: taken from the zip's name (x86_64 if it says x86_64 or amd64, else arm64)."
  type        = string
  default     = null
}

variable "runtime" {
  description = "Lambda Python runtime."
  type        = string
  default     = "python3.12"
}

variable "timeout" {
  description = "Function timeout in seconds."
  type        = number
  default     = 30
}

variable "nfs_server" {
  description = "NFS server address. An IPv4 address, or give `nfs_cluster_cidrs`."
  type        = string
}

variable "nfs_export" {
  description = "Export path on the NFS server."
  type        = string
  default     = "/processingresults"
}

variable "nfs_port" {
  description = "NFS port; null asks the portmapper."
  type        = number
  default     = 2049
}

variable "nfs_mount_port" {
  description = "MOUNT port; null asks the portmapper."
  type        = number
  default     = 2049
}

variable "nfs_cluster_cidrs" {
  description = "Egress destinations of the security group. Empty: the server's /32."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "Existing VPC, with `subnet_ids`. Null: a VPC and a subnet are created."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Existing subnets in `vpc_id`. Null: a VPC and a subnet are created."
  type        = list(string)
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR of the created VPC and its single subnet."
  type        = string
  default     = "10.88.0.0/24"
}

variable "security_group_ids" {
  description = "Existing security groups for the function. Null: the module creates one."
  type        = list(string)
  default     = null
}

variable "delivery" {
  description = "`direct` (SNS -> Lambda) or `sqs` (SNS -> SQS -> Lambda)."
  type        = string
  default     = "direct"
}

variable "publisher_arns" {
  description = "Principals allowed to publish. Empty: the deploying account."
  type        = list(string)
  default     = []
}

variable "operator_arns" {
  description = "Principals that may publish and redrive besides the publishers."
  type        = list(string)
  default     = []
}

variable "nfs_timeout_ms" {
  description = "Timeout of each NFS operation (ms). Null: the function's default."
  type        = number
  default     = null
}

variable "log_level" {
  description = "Application log level of the function."
  type        = string
  default     = "INFO"
}

variable "alarm_period_seconds" {
  description = "Period of the alarms: 10 lets a test see them change within seconds (emulators); 60 or more on AWS."
  type        = number
  default     = 60
}

variable "alarm_error_burst" {
  description = "Failed messages of one error type in one period that raise its alarm."
  type        = number
  default     = 5
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { Project = "nfs-sidecar", Purpose = "e2e" }
}

provider "aws" {
  region = var.region
}

# The whole pipeline in an existing VPC, for a VAST cluster: NFS and MOUNT both on 2049 (no
# portmapper), delivery through an SQS queue so that a burst of notifications waits in the queue
# instead of reaching the cluster all at once.
module "nfs_sidecar" {
  source = "../.."

  name            = var.name
  lambda_zip_path = var.lambda_zip_path
  architecture    = var.architecture

  nfs_server        = var.nfs_server
  nfs_export        = var.nfs_export
  nfs_port          = 2049
  nfs_mount_port    = 2049
  nfs_cluster_cidrs = var.nfs_cluster_cidrs

  vpc_id     = var.vpc_id
  subnet_ids = var.subnet_ids

  publisher_arns = var.publisher_arns
  operator_arns  = var.operator_arns
  kms_key_arn    = var.kms_key_arn

  delivery                       = var.delivery
  reserved_concurrent_executions = var.reserved_concurrent_executions

  # Alarms (on by default) notify the on-call topic; the dashboard is on by default too.
  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions

  tags = var.tags
}

# The example the end-to-end tests apply. It needs only a zip, the NFS server's address and ports:
# without `subnet_ids` it creates a VPC and a subnet, the module creates the security group. The
# provider is plain, so it applies to AWS as it is, or to an emulator through the standard
# environment variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
provider "aws" {
  region = var.region
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  create_vpc = var.subnet_ids == null
  vpc_id     = local.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  subnet_ids = local.create_vpc ? [aws_subnet.this[0].id] : var.subnet_ids

  # The zips are named ...-<arch>.zip: follow the zip unless the architecture is given.
  architecture = coalesce(var.architecture, length(regexall("x86_64|amd64", basename(var.lambda_zip_path))) > 0 ? "x86_64" : "arm64")

  # By default the deploying account may publish (the tests publish with the same credentials).
  publisher_arns = length(var.publisher_arns) > 0 ? var.publisher_arns : [
    "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  ]
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Throw-away test VPC with one Lambda ENI and no internet route; flow logs would add a log group and a role for no test value.
  count = local.create_vpc ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = var.name })
}

# Strip the VPC's default security group of its rules (nothing uses it).
resource "aws_default_security_group" "this" {
  count = local.create_vpc ? 1 : 0

  vpc_id = aws_vpc.this[0].id

  tags = merge(var.tags, { Name = "${var.name}-default" })
}

resource "aws_subnet" "this" {
  count = local.create_vpc ? 1 : 0

  vpc_id                  = aws_vpc.this[0].id
  cidr_block              = var.vpc_cidr
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = var.name })
}

module "nfs_sidecar" {
  source = "../.."

  name            = var.name
  lambda_zip_path = var.lambda_zip_path
  architecture    = local.architecture
  runtime         = var.runtime
  timeout         = var.timeout

  nfs_server        = var.nfs_server
  nfs_export        = var.nfs_export
  nfs_port          = var.nfs_port
  nfs_mount_port    = var.nfs_mount_port
  nfs_cluster_cidrs = var.nfs_cluster_cidrs

  vpc_id                = local.vpc_id
  subnet_ids            = local.subnet_ids
  create_security_group = var.security_group_ids == null
  security_group_ids    = coalesce(var.security_group_ids, [])

  publisher_arns = local.publisher_arns
  operator_arns  = var.operator_arns
  delivery       = var.delivery

  nfs_timeout_ms       = var.nfs_timeout_ms
  log_level            = var.log_level
  alarm_period_seconds = var.alarm_period_seconds
  alarm_error_burst    = var.alarm_error_burst

  tags = var.tags
}

locals {
  sqs       = var.delivery == "sqs"
  topic_arn = var.create_topic ? aws_sns_topic.this[0].arn : var.topic_arn

  # The function's handler inside the zip (contract with function/).
  handler = "lambda_function.lambda_handler"

  # The zip bundles a native libnfs, so it is built per architecture; catch a mismatch at plan time.
  zip_basename = basename(var.lambda_zip_path)
  zip_says_x86 = length(regexall("x86_64|amd64", local.zip_basename)) > 0
  zip_says_arm = length(regexall("arm64|aarch64", local.zip_basename)) > 0

  # Optional settings are only put in the environment when given, so the function's defaults apply.
  optional_environment = {
    NFS_PORT       = var.nfs_port
    NFS_MOUNT_PORT = var.nfs_mount_port
    NFS_TIMEOUT_MS = var.nfs_timeout_ms
    NFS_UID        = var.nfs_uid
    NFS_GID        = var.nfs_gid
    SIDECAR_SUFFIX = var.sidecar_suffix
    SIDECAR_NAMING = var.sidecar_naming
  }
  environment = merge(
    {
      NFS_SERVER        = var.nfs_server
      NFS_EXPORT        = var.nfs_export
      METRICS_NAMESPACE = var.metrics_namespace
      # A writer's lock must outlive the longest invocation that may still hold it.
      SIDECAR_LOCK_STALE_SECONDS = tostring(coalesce(var.sidecar_lock_stale_seconds, var.timeout + 30))
    },
    { for k, v in local.optional_environment : k => tostring(v) if v != null },
  )

  # NFS ports the function connects to. With both ports given the portmapper is not used; otherwise
  # libnfs asks the portmapper (111, over TCP only) and MOUNT is assumed on 2049 unless given (VAST).
  uses_portmapper = var.nfs_port == null || var.nfs_mount_port == null
  nfs_ports = distinct(concat(
    [coalesce(var.nfs_port, 2049), coalesce(var.nfs_mount_port, 2049)],
    local.uses_portmapper ? [111] : [],
  ))
  # Egress destinations: the given cluster CIDRs, or the server itself when it is an IPv4 address.
  nfs_server_is_ipv4 = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", var.nfs_server)) && can(cidrhost("${var.nfs_server}/32", 0))
  nfs_cluster_cidrs  = length(var.nfs_cluster_cidrs) > 0 ? var.nfs_cluster_cidrs : (local.nfs_server_is_ipv4 ? ["${var.nfs_server}/32"] : [])
  nfs_egress_rules = {
    for pair in setproduct(local.nfs_cluster_cidrs, local.nfs_ports) :
    "tcp-${pair[1]}-${pair[0]}" => { cidr = pair[0], port = pair[1] }
  }
  dns_egress_rules = {
    for pair in setproduct(var.dns_server_cidrs, ["udp", "tcp"]) :
    "${pair[1]}-53-${pair[0]}" => { cidr = pair[0], protocol = pair[1] }
  }
  security_group_ids = var.create_security_group ? [aws_security_group.this[0].id] : var.security_group_ids

  # Who may publish to the created topic: the upstream jobs and the operators.
  topic_publishers = distinct(concat(var.publisher_arns, var.operator_arns))

  # Resource policies allow principals by account and narrow them with aws:PrincipalArn, a string
  # match: a role ARN as Principal is resolved to the role's unique id when the policy is saved, so
  # a role that does not exist yet fails the apply (PrincipalNotFound) and one deleted and
  # re-created later is refused until someone re-applies. A whole account (:root) matches any of
  # its principals (arn:<partition>:iam::<account>:*).
  allowed = {
    for key, arns in { publishers = local.topic_publishers, operators = var.operator_arns } : key => {
      accounts                    = distinct([for a in arns : "arn:${split(":", a)[1]}:iam::${split(":", a)[4]}:root"])
      patterns                    = distinct([for a in arns : endswith(a, ":root") ? "${trimsuffix(a, "root")}*" : a])
    }
  }

  # Lambda allows 256 characters; server and export may be far longer.
  description_full = "Writes JSON sidecars next to files on ${var.nfs_server}:${var.nfs_export}"
  description      = length(local.description_full) <= 256 ? local.description_full : "${substr(local.description_full, 0, 253)}..."

  aws_region = data.aws_region.current.name
  # A topic of another account keeps its SNS metrics there: alarms on them here never fire.
  topic_in_account = var.create_topic || try(split(":", local.topic_arn)[4] == data.aws_caller_identity.current[0].account_id, false)

  sqs_maximum_concurrency = (
    var.sqs_maximum_concurrency != null ? var.sqs_maximum_concurrency :
    try(var.reserved_concurrent_executions >= 2, false) ? min(var.reserved_concurrent_executions, 1000) : null
  )
}

data "aws_region" "current" {}

# Only needed to tell a foreign topic (create_topic = false) from one of this account.
data "aws_caller_identity" "current" {
  count = var.create_topic ? 0 : 1
}

################################################################################
# SNS topic
################################################################################

resource "aws_sns_topic" "this" {
  # Encrypted only with a customer managed key (kms_key_arn): the AWS-managed aws/sns key cannot be
  # granted to other accounts' publishers nor used for SNS -> SQS delivery.
  count = var.create_topic ? 1 : 0

  name              = var.name
  kms_master_key_id = var.kms_key_arn

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(var.publisher_arns) > 0
      error_message = "publisher_arns must name at least one publisher when the module creates the topic (create_topic = true)."
    }
  }
}

# Only the named publishers and operators may publish: they are allowed explicitly, and every other
# principal (including ones whose own IAM policies allow sns:Publish) is denied. That includes AWS
# service principals (S3 event notifications, EventBridge, CloudWatch alarms): by design, publishers
# are jobs that name a file; a service needs a topic of its own.
resource "aws_sns_topic_policy" "this" {
  count = var.create_topic ? 1 : 0

  arn = aws_sns_topic.this[0].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AllowNamedPublishers"
        Effect    = "Allow"
        Principal = { AWS = local.allowed.publishers.accounts }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.this[0].arn
        Condition = { ArnLike = { "aws:PrincipalArn" = local.allowed.publishers.patterns } }
      },
      {
        Sid       = "DenyOtherPublishers"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.this[0].arn
        # Both conditions must hold to deny: the caller is none of the named principals and not in
        # an account named as a whole (arn:aws:iam::<account>:root).
        Condition = { for k, v in {
          ArnNotEquals    = { "aws:PrincipalArn" = [for a in local.topic_publishers : a if !endswith(a, ":root")] }
          StringNotEquals = { "aws:PrincipalAccount" = [for a in local.topic_publishers : split(":", a)[4] if endswith(a, ":root")] }
        } : k => v if length(values(v)[0]) > 0 }
      },
    ]
  })
}

################################################################################
# Failure queue: on-failure destination (direct) or dead-letter queue (sqs), and in both modes the
# subscription's dead-letter queue (notifications SNS could not deliver at all)
################################################################################

resource "aws_sqs_queue" "failure" {
  count = var.create_failure_queue ? 1 : 0

  name                      = "${var.name}-failures"
  message_retention_seconds = 1209600 # 14 days, the maximum: time to inspect and replay
  kms_master_key_id         = var.kms_key_arn
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null

  tags = var.tags
}

################################################################################
# Delivery queue (delivery = "sqs")
################################################################################

resource "aws_sqs_queue" "delivery" {
  count = local.sqs ? 1 : 0

  name = var.name
  # AWS guidance for Lambda event sources: at least six times the function timeout.
  visibility_timeout_seconds = min(6 * var.timeout, 43200)
  message_retention_seconds  = 345600 # 4 days; the dead-letter queue keeps messages 14 days
  kms_master_key_id          = var.kms_key_arn
  sqs_managed_sse_enabled    = var.kms_key_arn == null ? true : null

  redrive_policy = var.create_failure_queue ? jsonencode({
    deadLetterTargetArn = aws_sqs_queue.failure[0].arn
    maxReceiveCount     = var.sqs_max_receive_count
  }) : null

  tags = var.tags
}

# SNS delivers to the subscription's dead-letter queue with the topic's identity; operators may
# read and delete there to redrive. (The function's role sends its on-failure records by IAM.)
resource "aws_sqs_queue_policy" "failure" {
  count = var.create_failure_queue ? 1 : 0

  queue_url = aws_sqs_queue.failure[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "AllowTopicDeadLetters"
        Effect    = "Allow"
        Principal = { Service = "sns.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.failure[0].arn
        Condition = { ArnEquals = { "aws:SourceArn" = local.topic_arn } }
      }],
      length(var.operator_arns) > 0 ? [{
        Sid       = "AllowOperatorsToRedrive"
        Effect    = "Allow"
        Principal = { AWS = local.allowed.operators.accounts }
        Action    = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
        Resource  = aws_sqs_queue.failure[0].arn
        Condition = { ArnLike = { "aws:PrincipalArn" = local.allowed.operators.patterns } }
      }] : [],
    )
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "failure" {
  count = local.sqs && var.create_failure_queue ? 1 : 0

  queue_url = aws_sqs_queue.failure[0].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.delivery[0].arn]
  })
}

# Only the topic may send to the delivery queue.
resource "aws_sqs_queue_policy" "delivery" {
  count = local.sqs ? 1 : 0

  queue_url = aws_sqs_queue.delivery[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AllowTopic"
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.delivery[0].arn
      Condition = { ArnEquals = { "aws:SourceArn" = local.topic_arn } }
    }]
  })
}

resource "aws_lambda_event_source_mapping" "this" {
  count = local.sqs ? 1 : 0

  event_source_arn                   = aws_sqs_queue.delivery[0].arn
  function_name                      = aws_lambda_function.this.arn
  batch_size                         = var.sqs_batch_size
  maximum_batching_window_in_seconds = var.sqs_maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    for_each = local.sqs_maximum_concurrency != null ? [local.sqs_maximum_concurrency] : []
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]

  lifecycle {
    precondition {
      condition     = var.reserved_concurrent_executions != 1
      error_message = "delivery = \"sqs\" cannot keep reserved_concurrent_executions = 1: the event source mapping's maximum concurrency cannot be below 2, so its pollers would invoke past the single reserved instance and throttled batches would use up their receives and reach the dead-letter queue without having run. Set reserved_concurrent_executions to 2 or more (the cluster then sees that many clients), or use delivery = \"direct\" (one instance, throttled events wait in Lambda's queue)."
    }
    precondition {
      condition     = var.reserved_concurrent_executions == null || coalesce(local.sqs_maximum_concurrency, 0) <= coalesce(var.reserved_concurrent_executions, 0)
      error_message = "sqs_maximum_concurrency must not exceed reserved_concurrent_executions: throttled messages go back to the queue and use up their receives."
    }
  }
}

# A warning, not an error: the function still works, one record per invocation.
check "sqs_time_budget" {
  assert {
    condition     = !local.sqs || var.timeout * 1000 > 3 * coalesce(var.nfs_timeout_ms, 5000) + 200
    error_message = "With sqs delivery the function starts a batch (all its records together) only while it has three times nfs_timeout_ms (default 5000) left (one call into its timeout, then a mount afresh, bounded by twice): timeout (${var.timeout} s) leaves room for the first record of each batch only. Raise timeout or lower nfs_timeout_ms."
  }
}

################################################################################
# Subscription (SNS -> Lambda, or SNS -> SQS)
################################################################################

resource "aws_lambda_permission" "sns" {
  count = local.sqs ? 0 : 1

  statement_id  = "AllowSNSInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "sns.amazonaws.com"
  source_arn    = local.topic_arn
}

resource "aws_sns_topic_subscription" "this" {
  topic_arn = local.topic_arn
  protocol  = local.sqs ? "sqs" : "lambda"
  endpoint  = local.sqs ? aws_sqs_queue.delivery[0].arn : aws_lambda_function.this.arn
  # The function reads SNS envelopes from SQS bodies: raw delivery must stay off.
  raw_message_delivery = local.sqs ? false : null
  # What SNS cannot deliver at all (no invoke permission, a key SNS may not use, the endpoint
  # gone) goes to the failure queue instead of being dropped.
  redrive_policy = var.create_failure_queue ? jsonencode({ deadLetterTargetArn = aws_sqs_queue.failure[0].arn }) : null

  filter_policy       = var.filter_policy
  filter_policy_scope = var.filter_policy == null ? null : var.filter_policy_scope

  depends_on = [aws_lambda_permission.sns, aws_sqs_queue_policy.delivery, aws_sqs_queue_policy.failure]

  lifecycle {
    precondition {
      condition     = var.create_topic || var.topic_arn != null
      error_message = "topic_arn must be set when create_topic is false."
    }
    precondition {
      condition     = var.create_topic || try(split(":", var.topic_arn)[3] == local.aws_region, false)
      error_message = "topic_arn is in region ${try(split(":", var.topic_arn)[3], "?")} but this module deploys to ${local.aws_region}: the subscription, its dead-letter queue (the failure queue) and the function must be in the topic's region. Apply the module with a provider for ${try(split(":", var.topic_arn)[3], "the topic's region")}."
    }
  }
}

################################################################################
# Asynchronous invocation: retries, maximum event age, on-failure destination (delivery = "direct")
################################################################################

resource "aws_lambda_function_event_invoke_config" "this" {
  count = local.sqs ? 0 : 1

  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds

  dynamic "destination_config" {
    for_each = var.create_failure_queue ? [aws_sqs_queue.failure[0].arn] : []
    content {
      on_failure {
        destination = destination_config.value
      }
    }
  }

  depends_on = [aws_iam_role_policy.this]
}

################################################################################
# Lambda function
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is an input (log_retention_in_days, default 30): these are operational logs of one line per file; set 365 or more where a policy requires it.
  #checkov:skip=CKV_AWS_158:Logs hold file paths and stat results, encrypted at rest by CloudWatch by default; a customer managed key would need a logs-service key policy, which is outside this module.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_in_days

  tags = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Failures are handled outside the function: the on-failure destination of asynchronous invocations (direct) or the delivery queue's redrive policy (sqs); a function-level DLQ would duplicate them.
  #checkov:skip=CKV_AWS_272:Code signing is not used: the zip is built and deployed by the same pipeline (filename + source_code_hash).
  #checkov:skip=CKV_AWS_50:X-Ray tracing is not needed: one NFS round trip per message, logged as JSON.
  function_name = var.name
  description   = local.description
  role          = aws_iam_role.this.arn

  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  handler          = local.handler
  runtime          = var.runtime
  architectures    = [var.architecture]

  timeout                        = var.timeout
  memory_size                    = var.memory_size
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.environment
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = local.security_group_ids
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.log_level
    system_log_level      = var.system_log_level
  }

  tags = var.tags

  # The role must hold the ENI and log permissions before Lambda creates the function's ENIs.
  depends_on = [aws_iam_role_policy.this, aws_cloudwatch_log_group.this]

  lifecycle {
    precondition {
      condition     = var.create_security_group || length(var.security_group_ids) > 0
      error_message = "security_group_ids must list at least one security group when create_security_group is false."
    }
    precondition {
      condition     = var.sidecar_lock_stale_seconds == null || coalesce(var.sidecar_lock_stale_seconds, 0) > var.timeout
      error_message = "sidecar_lock_stale_seconds must exceed timeout, or a live writer's lock could be broken."
    }
    precondition {
      condition     = var.kms_key_arn == null || try(split(":", var.kms_key_arn)[3] == local.aws_region, false)
      error_message = "kms_key_arn is a key in region ${try(split(":", var.kms_key_arn)[3], "?")} but this module deploys to ${local.aws_region}: SNS, SQS and Lambda use keys of their own region only. Give a key (or a multi-Region replica key) in ${local.aws_region}."
    }
    precondition {
      condition     = !(local.zip_says_x86 && var.architecture == "arm64") && !(local.zip_says_arm && var.architecture == "x86_64")
      error_message = "The zip's name says it was built for another architecture than var.architecture (the zip bundles a native libnfs)."
    }
  }
}

################################################################################
# Security group: egress to the cluster on the NFS ports only
################################################################################

resource "aws_security_group" "this" {
  count = var.create_security_group ? 1 : 0

  name        = var.name
  description = "nfs-sidecar function ${var.name}: egress to the NFS cluster only"
  vpc_id      = var.vpc_id

  # No inline rules: the default allow-all egress rule is removed, the rules below are the only ones.
  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.vpc_id != null
      error_message = "vpc_id must be set when create_security_group is true."
    }
    precondition {
      condition     = length(local.nfs_cluster_cidrs) > 0
      error_message = "nfs_cluster_cidrs must be given when nfs_server is not an IPv4 address (the security group allows egress to those addresses only)."
    }
  }
}

resource "aws_vpc_security_group_egress_rule" "nfs" {
  for_each = var.create_security_group ? local.nfs_egress_rules : {}

  security_group_id = aws_security_group.this[0].id
  description       = each.value.port == 111 ? "portmapper (libnfs uses TCP)" : "NFS/MOUNT"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  tags = var.tags
}

# Name resolution through DNS servers of the VPC's DHCP options (Active Directory, the cluster's own
# DNS for a VIP pool name). The VPC's own resolver (AmazonProvidedDNS) needs no rule.
resource "aws_vpc_security_group_egress_rule" "dns" {
  for_each = var.create_security_group ? local.dns_egress_rules : {}

  security_group_id = aws_security_group.this[0].id
  description       = "DNS (${upper(each.value.protocol)}) to the VPC's custom DNS servers"
  ip_protocol       = each.value.protocol
  from_port         = 53
  to_port           = 53
  cidr_ipv4         = each.value.cidr

  tags = var.tags
}

################################################################################
# IAM role
################################################################################

resource "aws_iam_role" "this" {
  # IAM names are global to the account: a generated suffix keeps two regions' copies apart.
  name        = var.iam_role_name
  name_prefix = var.iam_role_name == null ? "${substr(var.name, 0, 37)}-" : null
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # parliament:ignore MALFORMED: a trust policy names no Resource (the role itself is the
      # resource); parliament lints identity policies, which must.
      Sid       = "LambdaAssumesRole"
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

locals {
  role_statements = concat(
    [
      {
        Sid      = "OwnLogGroup"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.this.arn}:*"
      },
      {
        # Lambda creates and removes the function's ENIs with the execution role. The Describe
        # actions support no resource-level permissions, and the ENIs' ARNs are not known
        # beforehand, so these actions need "*" (as in AWSLambdaVPCAccessExecutionRole).
        # parliament:ignore RESOURCE_STAR: the ENIs' ARNs are not known beforehand and the
        # Describe actions take no resource (AWSLambdaVPCAccessExecutionRole does the same).
        Sid    = "VpcNetworkInterfaces"
        Effect = "Allow"
        Action = [
          "ec2:CreateNetworkInterface",
          "ec2:DescribeNetworkInterfaces",
          "ec2:DescribeSubnets",
          "ec2:DeleteNetworkInterface",
          "ec2:AssignPrivateIpAddresses",
          "ec2:UnassignPrivateIpAddresses",
        ]
        Resource = "*"
      },
    ],
    !local.sqs && var.create_failure_queue ? [{
      Sid      = "SendToFailureDestination"
      Effect   = "Allow"
      Action   = "sqs:SendMessage"
      Resource = aws_sqs_queue.failure[0].arn
    }] : [],
    local.sqs ? [{
      Sid      = "ConsumeDeliveryQueue"
      Effect   = "Allow"
      Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
      Resource = aws_sqs_queue.delivery[0].arn
    }] : [],
    var.kms_key_arn != null ? [{
      Sid    = "UseKmsKey"
      Effect = "Allow"
      # Decrypt: the environment and received messages; GenerateDataKey: sending to an encrypted
      # failure destination (direct delivery only).
      Action   = !local.sqs && var.create_failure_queue ? ["kms:Decrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"]
      Resource = var.kms_key_arn
    }] : [],
  )
}

resource "aws_iam_role_policy" "this" {
  name = var.name
  role = aws_iam_role.this.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.role_statements
  })
}

################################################################################
# What operators need on their side (output operator_policy_json)
################################################################################

locals {
  operator_statements = concat(
    [
      {
        Sid      = "InvokeProbe"
        Effect   = "Allow"
        Action   = "lambda:InvokeFunction"
        Resource = aws_lambda_function.this.arn
      },
      {
        Sid      = "PublishToTopic"
        Effect   = "Allow"
        Action   = "sns:Publish"
        Resource = local.topic_arn
      },
      {
        Sid      = "ReadLogs"
        Effect   = "Allow"
        Action   = ["logs:FilterLogEvents", "logs:GetLogEvents"]
        Resource = "${aws_cloudwatch_log_group.this.arn}:*"
      },
    ],
    var.create_failure_queue ? [{
      Sid      = "RedriveFailureQueue"
      Effect   = "Allow"
      Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
      Resource = aws_sqs_queue.failure[0].arn
    }] : [],
    var.kms_key_arn != null ? [{
      # Decrypt: read the encrypted failure queue; GenerateDataKey: publish to the encrypted topic.
      Sid      = "UseKmsKey"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource = var.kms_key_arn
    }] : [],
  )
}

################################################################################
# General
################################################################################

variable "name" {
  description = "Name of the function and prefix of every resource the module creates (topic, queues, role, security group, log group)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,48}$", var.name))
    error_message = "name must be 1-48 characters of letters, digits, '-' and '_' (it prefixes queue, role and function names, which have length limits)."
  }
}

variable "tags" {
  description = "Tags added to every resource that supports them."
  type        = map(string)
  nullable    = false
  default     = {}
}

################################################################################
# SNS topic
################################################################################

variable "create_topic" {
  description = "Create the SNS topic (Standard). When false, subscribe to the existing topic given in `topic_arn`; its policy is left to its owner."
  type        = bool
  nullable    = false
  default     = true
}

variable "topic_arn" {
  description = "ARN of an existing SNS topic to subscribe to, in the module's region. Required when `create_topic` is false, ignored otherwise. A topic of another account keeps its SNS metrics there: the two `sns-*` alarms are then not created."
  type        = string
  default     = null

  validation {
    condition     = var.topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.topic_arn))
    error_message = "topic_arn must be the ARN of a Standard SNS topic (arn:aws:sns:<region>:<account>:<name>)."
  }
}

variable "publisher_arns" {
  description = "IAM principals allowed to publish to the created topic: the upstream jobs' role or user ARNs, or `arn:aws:iam::<account>:root` for a whole account. Every principal not named here or in `operator_arns` is denied `sns:Publish` by the topic policy. Required when `create_topic` is true."
  type        = list(string)
  nullable    = false
  default     = []

  validation {
    condition     = alltrue([for a in var.publisher_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|(role|user)/[A-Za-z0-9+=,.@_/-]+)$", a))])
    error_message = "Each publisher_arns entry must be an IAM role or user ARN, or arn:aws:iam::<account>:root (no wildcards)."
  }
}

variable "operator_arns" {
  description = "IAM principals of the people or tools that operate the pipeline besides the upstream jobs: they may publish to the created topic (a test notification, `scripts/redrive.py`) and receive from and delete in the failure queue (redrive). Same forms as `publisher_arns`. Their own IAM policies must allow the same actions."
  type        = list(string)
  nullable    = false
  default     = []

  validation {
    condition     = alltrue([for a in var.operator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|(role|user)/[A-Za-z0-9+=,.@_/-]+)$", a))])
    error_message = "Each operator_arns entry must be an IAM role or user ARN, or arn:aws:iam::<account>:root (no wildcards)."
  }
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key. When set it encrypts the created topic, the queues and the function's environment, and the role may use it (kms:Decrypt, plus kms:GenerateDataKey to send to an encrypted failure queue). The key policy must let sns.amazonaws.com and the publishers use it, the operators decrypt (read the failure queue) and generate data keys (redrive), and the person applying create grants (Lambda's environment encryption): see docs/deploying.md. Must be in the module's region. Null: SQS-managed encryption for the queues, no KMS for the topic."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); aliases cannot be used in IAM policies."
  }
}

################################################################################
# Lambda function
################################################################################

variable "lambda_zip_path" {
  description = "Path of the function's deployment zip (built by the project, e.g. `dist/nfs-sidecar-0.1.0-arm64.zip`; Terraform does not build it). Its architecture must match `architecture`."
  type        = string
  nullable    = false

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip") && fileexists(var.lambda_zip_path)
    error_message = "lambda_zip_path must be the path of an existing .zip file (build it first, e.g. dist/nfs-sidecar-<version>-<arch>.zip)."
  }
}

variable "runtime" {
  description = "Lambda Python runtime."
  type        = string
  nullable    = false
  default     = "python3.12"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.12 or python3.13 (Amazon Linux 2023: the runtimes the bundled libnfs is built and tested for)."
  }
}

variable "architecture" {
  description = "Instruction set of the function: arm64 (Graviton, lower price per GB-second) or x86_64. Must match the zip, which bundles a native libnfs."
  type        = string
  nullable    = false
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "timeout" {
  description = "Function timeout in seconds."
  type        = number
  nullable    = false
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "memory_size" {
  description = "Function memory in MB (CPU scales with it)."
  type        = number
  nullable    = false
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency: the most instances that run at once, hence the most NFS clients the storage cluster sees from this function. Null leaves the function unreserved (not recommended). Lambda refuses a reservation that leaves the account fewer unreserved executions than its minimum (new accounts with a quota of 10 or 50 cannot reserve any): check `aws lambda get-account-settings` first (docs/deploying.md). `sqs` delivery needs 2 or more (or null)."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrent_executions == null || try(var.reserved_concurrent_executions >= 1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions, false)
    error_message = "reserved_concurrent_executions must be a whole number >= 1 (0 would stop the function), or null."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  nullable    = false
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_level" {
  description = "Application log level of the function's JSON logs (Lambda's `application_log_level`; the function reads it too). Each message logs one INFO line (`written`, `skipped_older`) or one ERROR line (`failed`) that also carries the message's metrics: above INFO, the metrics of successful messages are dropped with their lines."
  type        = string
  nullable    = false
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "system_log_level" {
  description = "Level of Lambda's own log lines (`system_log_level`): INFO keeps START and REPORT (duration, billed duration, memory used, init duration) of every invocation; WARN keeps only warnings such as timeouts and out-of-memory."
  type        = string
  nullable    = false
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.system_log_level)
    error_message = "system_log_level must be one of DEBUG, INFO, WARN."
  }
}

variable "iam_role_name" {
  description = "Name of the function's IAM role. Null: a unique name starting with `name` (IAM names are global to the account, so the same `name` in two regions does not collide)."
  type        = string
  default     = null

  validation {
    condition     = var.iam_role_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.iam_role_name))
    error_message = "iam_role_name must be 1-64 characters of letters, digits and '+=,.@_-', or null."
  }
}

################################################################################
# NFS and sidecar settings (the function's environment)
################################################################################

variable "nfs_server" {
  description = "NFS server host name or IPv4 address (NFS_SERVER). A VAST VIP or a DNS name of the VIP pool."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$", var.nfs_server))
    error_message = "nfs_server must be a host name or an IPv4 address: up to 253 letters, digits, '.' and '-', starting with a letter or digit (no scheme, port, path or IPv6)."
  }
}

variable "nfs_export" {
  description = "Exported path on the server (NFS_EXPORT), e.g. `/processingresults`: `/` and parts of letters, digits and `._~+-`, up to 1024 characters."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.nfs_export) <= 1024 && (var.nfs_export == "/" || (can(regex("^(/[A-Za-z0-9._~+-]+)+/?$", var.nfs_export)) && !contains(split("/", var.nfs_export), "..")))
    error_message = "nfs_export must be an absolute export path such as /processingresults: parts of letters, digits and '._~+-', no '..', at most 1024 characters."
  }
}

variable "nfs_port" {
  description = "NFS port (NFS_PORT). Null: asked from the portmapper. When both `nfs_port` and `nfs_mount_port` are set the portmapper (111) is not used; on VAST set both to 2049."
  type        = number
  default     = null

  validation {
    condition     = var.nfs_port == null || try(var.nfs_port >= 1 && var.nfs_port <= 65535 && floor(var.nfs_port) == var.nfs_port, false)
    error_message = "nfs_port must be a port number between 1 and 65535, or null."
  }
}

variable "nfs_mount_port" {
  description = "MOUNT protocol port (NFS_MOUNT_PORT). Null: asked from the portmapper (the created security group then allows 2049 for MOUNT, where VAST serves it)."
  type        = number
  default     = null

  validation {
    condition     = var.nfs_mount_port == null || try(var.nfs_mount_port >= 1 && var.nfs_mount_port <= 65535 && floor(var.nfs_mount_port) == var.nfs_mount_port, false)
    error_message = "nfs_mount_port must be a port number between 1 and 65535, or null."
  }
}

variable "nfs_timeout_ms" {
  description = "Timeout of each NFS operation in milliseconds (NFS_TIMEOUT_MS), 100-120000. Null: the function's default (5000). In `sqs` delivery a record is only started while the invocation has three times this left (a call into its timeout, then a new mount bounded by twice this)."
  type        = number
  default     = null

  validation {
    condition     = var.nfs_timeout_ms == null || try(var.nfs_timeout_ms >= 100 && var.nfs_timeout_ms <= 120000 && floor(var.nfs_timeout_ms) == var.nfs_timeout_ms, false)
    error_message = "nfs_timeout_ms must be a whole number of milliseconds between 100 and 120000, or null."
  }
}

variable "nfs_uid" {
  description = "UID the function presents to the NFS server (NFS_UID, AUTH_SYS). Null: the function's default."
  type        = number
  default     = null

  validation {
    condition     = var.nfs_uid == null || try(var.nfs_uid >= 0 && var.nfs_uid <= 4294967294 && floor(var.nfs_uid) == var.nfs_uid, false)
    error_message = "nfs_uid must be a whole number between 0 and 4294967294, or null."
  }
}

variable "nfs_gid" {
  description = "GID the function presents to the NFS server (NFS_GID, AUTH_SYS). Null: the function's default."
  type        = number
  default     = null

  validation {
    condition     = var.nfs_gid == null || try(var.nfs_gid >= 0 && var.nfs_gid <= 4294967294 && floor(var.nfs_gid) == var.nfs_gid, false)
    error_message = "nfs_gid must be a whole number between 0 and 4294967294, or null."
  }
}

variable "sidecar_suffix" {
  description = "Suffix that replaces the file's extension to name the sidecar (SIDECAR_SUFFIX): 1-64 letters, digits and `_.~+-`. Null: the function's default (`-sidecar.json`)."
  type        = string
  default     = null

  validation {
    condition     = var.sidecar_suffix == null || can(regex("^[A-Za-z0-9_.~+-]{1,64}$", var.sidecar_suffix))
    error_message = "sidecar_suffix must be 1-64 characters of letters, digits and '_.~+-'."
  }
}

variable "sidecar_naming" {
  description = "How a sidecar is named (SIDECAR_NAMING): `stem` (the suffix replaces the extension: `a.csv` -> `a-sidecar.json`, the tutorial's naming; `a.csv` and `a.json` then collide and the second notification fails with SidecarCollision) or `full_name` (`a.csv-sidecar.json`, which cannot collide). Null: the function's default (`stem`)."
  type        = string
  default     = null

  validation {
    condition     = var.sidecar_naming == null || contains(["stem", "full_name"], coalesce(var.sidecar_naming, "-"))
    error_message = "sidecar_naming must be \"stem\" or \"full_name\", or null."
  }
}

variable "sidecar_lock_stale_seconds" {
  description = "Age in seconds (up to 86400) after which a writer's lock or temp file counts as left by a dead writer: later writers take the lock over and remove the files (SIDECAR_LOCK_STALE_SECONDS). Must exceed `timeout`. Null: `timeout` + 30."
  type        = number
  default     = null

  validation {
    condition     = var.sidecar_lock_stale_seconds == null || try(var.sidecar_lock_stale_seconds >= 1 && var.sidecar_lock_stale_seconds <= 86400 && floor(var.sidecar_lock_stale_seconds) == var.sidecar_lock_stale_seconds, false)
    error_message = "sidecar_lock_stale_seconds must be a whole number of seconds between 1 and 86400, or null."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the function's metrics (METRICS_NAMESPACE; Embedded Metric Format in its log lines): 1-255 letters, digits and `.-_/#: `, not starting with `AWS/`."
  type        = string
  nullable    = false
  default     = "NfsSidecar"

  validation {
    condition     = can(regex("^[A-Za-z0-9.\\-_/#: ]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of letters, digits and '.-_/#: ', not starting with AWS/."
  }
}

################################################################################
# Network
################################################################################

variable "subnet_ids" {
  description = "Private subnets the function runs in; they must route to the cluster's addresses. Use two or more for availability."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must list at least one subnet id (subnet-...)."
  }
}

variable "create_security_group" {
  description = "Create the function's security group, with egress only to `nfs_cluster_cidrs` on the NFS ports in use. When false, give `security_group_ids`."
  type        = bool
  nullable    = false
  default     = true
}

variable "vpc_id" {
  description = "VPC of `subnet_ids`, where the security group is created. Required when `create_security_group` is true."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...) or null."
  }
}

variable "security_group_ids" {
  description = "Existing security groups for the function, used when `create_security_group` is false. They must allow egress to the cluster on the NFS ports."
  type        = list(string)
  nullable    = false
  default     = []

  validation {
    condition     = alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "Each security_group_ids entry must be a security group id (sg-...)."
  }
}

variable "nfs_cluster_cidrs" {
  description = "CIDR blocks of the cluster's addresses (e.g. the VAST VIP pool range), the only egress destinations of the created security group. Empty: `nfs_server`/32 when `nfs_server` is an IPv4 address."
  type        = list(string)
  nullable    = false
  default     = []

  validation {
    condition     = alltrue([for c in var.nfs_cluster_cidrs : can(cidrhost(c, 0))])
    error_message = "Each nfs_cluster_cidrs entry must be a valid CIDR block, such as 10.0.8.0/24 or 10.0.8.10/32."
  }
  validation {
    condition     = alltrue([for c in var.nfs_cluster_cidrs : !strcontains(c, ":")])
    error_message = "nfs_cluster_cidrs must be IPv4 CIDR blocks: the function is not dual-stack (the module does not set ipv6_allowed_for_dual_stack), so it reaches the cluster over IPv4 only. Give the cluster's IPv4 addresses."
  }
}

variable "dns_server_cidrs" {
  description = "IPv4 CIDR blocks of the DNS servers the VPC's DHCP options name when they are not AmazonProvidedDNS (Active Directory, the cluster's own DNS for a VIP pool name): the created security group then allows UDP and TCP 53 to them, so the function can resolve `nfs_server`. See `aws ec2 describe-dhcp-options` (docs/deploying.md). Empty: none (the VPC's own resolver needs no rule)."
  type        = list(string)
  nullable    = false
  default     = []

  validation {
    condition     = alltrue([for c in var.dns_server_cidrs : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "Each dns_server_cidrs entry must be an IPv4 CIDR block, such as 10.0.0.2/32."
  }
}

################################################################################
# Delivery and failure handling
################################################################################

variable "delivery" {
  description = "How messages reach the function: `direct` (SNS invokes the function asynchronously; retries and an on-failure destination) or `sqs` (SNS -> SQS queue -> event source mapping with partial batch responses, maximum concurrency and a dead-letter queue)."
  type        = string
  nullable    = false
  default     = "direct"

  validation {
    condition     = contains(["direct", "sqs"], var.delivery)
    error_message = "delivery must be \"direct\" or \"sqs\"."
  }
}

variable "filter_policy" {
  description = "SNS subscription filter policy (JSON). Null: every message is delivered."
  type        = string
  default     = null

  validation {
    condition     = var.filter_policy == null || can(keys(jsondecode(var.filter_policy)))
    error_message = "filter_policy must be a JSON object, e.g. jsonencode({ filename = [{ prefix = \"runs/\" }] })."
  }
}

variable "filter_policy_scope" {
  description = "What `filter_policy` applies to: `MessageAttributes` or `MessageBody` (filter on the `filename` field of the message). Null: the SNS default (MessageAttributes)."
  type        = string
  default     = null

  validation {
    condition     = var.filter_policy_scope == null || contains(["MessageAttributes", "MessageBody"], coalesce(var.filter_policy_scope, "-"))
    error_message = "filter_policy_scope must be MessageAttributes, MessageBody or null."
  }
}

variable "create_failure_queue" {
  description = "Create the SQS failure queue: the on-failure destination of asynchronous invocations (`direct`) or the dead-letter queue of the delivery queue (`sqs`). Without it, failed events are dropped after the retries."
  type        = bool
  nullable    = false
  default     = true
}

variable "maximum_retry_attempts" {
  description = "`direct`: retries of a failed asynchronous invocation (0-2) before the event goes to the failure queue."
  type        = number
  nullable    = false
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.maximum_retry_attempts)
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "maximum_event_age_in_seconds" {
  description = "`direct`: age (60-21600 s) after which an event still not processed (e.g. throttled while the cluster is slow) goes to the failure queue."
  type        = number
  nullable    = false
  default     = 3600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 21600 && floor(var.maximum_event_age_in_seconds) == var.maximum_event_age_in_seconds
    error_message = "maximum_event_age_in_seconds must be a whole number between 60 and 21600."
  }
}

variable "sqs_max_receive_count" {
  description = "`sqs`: receives of a message (first try included) before SQS moves it to the dead-letter queue."
  type        = number
  nullable    = false
  default     = 5

  validation {
    condition     = var.sqs_max_receive_count >= 1 && var.sqs_max_receive_count <= 1000 && floor(var.sqs_max_receive_count) == var.sqs_max_receive_count
    error_message = "sqs_max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "sqs_batch_size" {
  description = "`sqs`: messages per invocation (1-10); a failed record is returned in batchItemFailures and retried alone."
  type        = number
  nullable    = false
  default     = 10

  validation {
    condition     = var.sqs_batch_size >= 1 && var.sqs_batch_size <= 10 && floor(var.sqs_batch_size) == var.sqs_batch_size
    error_message = "sqs_batch_size must be a whole number between 1 and 10."
  }
}

variable "sqs_maximum_batching_window_in_seconds" {
  description = "`sqs`: how long (0-300 s) the event source mapping waits to fill a batch of `sqs_batch_size` before invoking. 0: invoke as soon as messages are there. A window fills batches, so one invocation pays its NFS round trips once for up to `sqs_batch_size` records, at the price of up to this many seconds of added latency."
  type        = number
  nullable    = false
  default     = 0

  validation {
    condition     = var.sqs_maximum_batching_window_in_seconds >= 0 && var.sqs_maximum_batching_window_in_seconds <= 300 && floor(var.sqs_maximum_batching_window_in_seconds) == var.sqs_maximum_batching_window_in_seconds
    error_message = "sqs_maximum_batching_window_in_seconds must be a whole number of seconds between 0 and 300."
  }
}

variable "sqs_maximum_concurrency" {
  description = "`sqs`: maximum concurrency of the event source mapping (2-1000). Null: `reserved_concurrent_executions` (when it is at least 2). Must not exceed the reserved concurrency, or throttled messages burn receives."
  type        = number
  default     = null

  validation {
    condition     = var.sqs_maximum_concurrency == null || try(var.sqs_maximum_concurrency >= 2 && var.sqs_maximum_concurrency <= 1000 && floor(var.sqs_maximum_concurrency) == var.sqs_maximum_concurrency, false)
    error_message = "sqs_maximum_concurrency must be a whole number between 2 and 1000, or null."
  }
}

################################################################################
# Monitoring: alarms and dashboard
################################################################################

variable "create_alarms" {
  description = "Create the CloudWatch alarms (see `alarm_arns`): failure queue not empty, delivery queue's oldest message too old (`sqs`), function errors and throttles, asynchronous events dropped and destination delivery failures (`direct`), SNS deliveries failed or not dead-lettered, and a burst of each of `alarm_error_types`."
  type        = bool
  nullable    = false
  default     = true
}

variable "alarm_actions" {
  description = "ARNs to notify when an alarm goes to ALARM (e.g. an SNS topic of the on-call team)."
  type        = list(string)
  nullable    = false
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_actions : startswith(a, "arn:")])
    error_message = "Each alarm_actions entry must be an ARN."
  }
}

variable "ok_actions" {
  description = "ARNs to notify when an alarm returns to OK."
  type        = list(string)
  nullable    = false
  default     = []

  validation {
    condition     = alltrue([for a in var.ok_actions : startswith(a, "arn:")])
    error_message = "Each ok_actions entry must be an ARN."
  }
}

variable "alarm_period_seconds" {
  description = "Period over which each alarm evaluates its metric (one period breaching raises it): 10, 20, 30 or a multiple of 60. AWS's own metrics have one-minute resolution, so keep 60 or more outside tests."
  type        = number
  nullable    = false
  default     = 60

  validation {
    condition     = contains([10, 20, 30], var.alarm_period_seconds) || (var.alarm_period_seconds >= 60 && var.alarm_period_seconds <= 86400 && var.alarm_period_seconds % 60 == 0)
    error_message = "alarm_period_seconds must be 10, 20, 30 or a multiple of 60 up to 86400."
  }
}

variable "alarm_error_types" {
  description = "Error types (the function's `error_type`, e.g. `MountError`, `NfsTimeout`) that get an alarm of their own when `alarm_error_burst` or more messages fail with them in one period: a burst of one kind points at the cluster or the network rather than at a publisher."
  type        = list(string)
  nullable    = false
  default     = ["MountError", "NfsTimeout", "NfsConnectionError"]

  validation {
    condition     = alltrue([for t in var.alarm_error_types : can(regex("^[A-Za-z][A-Za-z0-9_]{0,127}$", t))])
    error_message = "Each alarm_error_types entry must be an error type name such as MountError."
  }
}

variable "alarm_error_burst" {
  description = "Failed messages of one of `alarm_error_types` in one period that raise its alarm."
  type        = number
  nullable    = false
  default     = 5

  validation {
    condition     = var.alarm_error_burst >= 1 && floor(var.alarm_error_burst) == var.alarm_error_burst
    error_message = "alarm_error_burst must be a whole number >= 1."
  }
}

variable "delivery_queue_age_alarm_seconds" {
  description = "`sqs`: age of the delivery queue's oldest message that raises its alarm (messages wait: the function is throttled, failing, or the cluster slow)."
  type        = number
  nullable    = false
  default     = 1800

  validation {
    condition     = var.delivery_queue_age_alarm_seconds >= 60 && floor(var.delivery_queue_age_alarm_seconds) == var.delivery_queue_age_alarm_seconds
    error_message = "delivery_queue_age_alarm_seconds must be a whole number of seconds >= 60."
  }
}

variable "create_dashboard" {
  description = "Create a CloudWatch dashboard `<name>-<region>` (dashboards are global to the account): throughput, failures by error type, latency percentiles, NFS calls and reconnects, queue depths, concurrency and the alarms."
  type        = bool
  nullable    = false
  default     = true
}

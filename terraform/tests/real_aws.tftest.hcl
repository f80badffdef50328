# What a real AWS account refuses or gets wrong that the emulator accepts (issue: "Ready for a real
# AWS account"): each is refused at plan time naming the fix, or the module avoids it. Mocked AWS.

mock_provider "aws" {
  source = "./tests/mocks"
}

# Inputs: tests/terraform.tfvars, and what each run sets.

# Lambda allows 256 characters of description; server (253) and export (1024) may be longer.
run "description_fits_lambdas_limit" {
  command = plan
  variables {
    nfs_server        = "${join(".", [for i in range(7) : "a23456789012345678901234567890"])}.example"
    nfs_cluster_cidrs = ["10.0.8.0/24"]
    nfs_export        = "/${join("/", [for i in range(20) : "folder-of-the-long-export"])}"
  }
  assert {
    condition     = length(aws_lambda_function.this.description) == 256 && endswith(aws_lambda_function.this.description, "...") && startswith(aws_lambda_function.this.description, "Writes JSON sidecars next to files on a2345")
    error_message = "a long server:export must be cut to Lambda's 256 characters, marked with ..."
  }
}

run "description_short_is_whole" {
  command = plan
  assert {
    condition     = aws_lambda_function.this.description == "Writes JSON sidecars next to files on 10.0.8.10:/processingresults"
    error_message = "a short description must be kept whole"
  }
}

# The subscription and its dead-letter queue must be in the topic's region.
run "topic_in_another_region_is_refused" {
  command = plan
  variables {
    create_topic   = false
    topic_arn      = "arn:aws:sns:us-east-1:111122223333:upstream-results"
    publisher_arns = []
  }
  expect_failures = [aws_sns_topic_subscription.this]
}

run "kms_key_in_another_region_is_refused" {
  command = plan
  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/0b1c2d3e-1111-2222-3333-444455556666"
  }
  expect_failures = [aws_lambda_function.this]
}

# The function is not dual-stack: IPv6 rules would never carry its traffic.
run "ipv6_cluster_cidr_is_refused" {
  command = plan
  variables {
    nfs_cluster_cidrs = ["10.0.8.0/24", "2001:db8::/64"]
  }
  expect_failures = [var.nfs_cluster_cidrs]
}

run "ipv6_dns_server_is_refused" {
  command = plan
  variables {
    dns_server_cidrs = ["2001:db8::53/128"]
  }
  expect_failures = [var.dns_server_cidrs]
}

# Maximum concurrency cannot be below 2: one reserved instance cannot be honoured with SQS.
run "sqs_with_one_reserved_instance_is_refused" {
  command = plan
  variables {
    delivery                       = "sqs"
    reserved_concurrent_executions = 1
  }
  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "direct_with_one_reserved_instance_is_fine" {
  command = plan
  variables {
    reserved_concurrent_executions = 1
  }
}

# Custom DNS servers of the VPC's DHCP options: the function must reach them to resolve nfs_server.
run "dns_servers_get_egress_on_53" {
  command = apply
  variables {
    nfs_server        = "vippool.vast.example.internal"
    nfs_cluster_cidrs = ["10.0.8.0/24"]
    dns_server_cidrs  = ["10.0.0.10/32", "10.0.1.10/32"]
  }
  assert {
    condition = toset(keys(aws_vpc_security_group_egress_rule.dns)) == toset(["udp-53-10.0.0.10/32", "tcp-53-10.0.0.10/32", "udp-53-10.0.1.10/32", "tcp-53-10.0.1.10/32"]) && alltrue([
      for r in aws_vpc_security_group_egress_rule.dns : r.from_port == 53 && r.to_port == 53 && r.cidr_ipv4 != null && r.cidr_ipv6 == null
    ])
    error_message = "each DNS server must be reachable on UDP and TCP 53"
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_egress_rule.nfs : r.cidr_ipv6 == null && r.ip_protocol == "tcp"])
    error_message = "NFS rules must be IPv4 TCP only"
  }
}

run "no_dns_rules_by_default" {
  command = plan
  assert {
    condition     = length(aws_vpc_security_group_egress_rule.dns) == 0
    error_message = "the VPC's own resolver needs no rule"
  }
}

# Role ARNs are never a Principal (IAM resolves them to unique ids when the policy is saved):
# accounts are, and aws:PrincipalArn narrows them.
run "principals_by_account_narrowed_by_arn" {
  command = apply
  variables {
    publisher_arns = ["arn:aws:iam::111122223333:role/upstream", "arn:aws:iam::444455556666:role/path/job"]
    operator_arns  = ["arn:aws:iam::111122223333:user/ops", "arn:aws:iam::777788889999:root"]
  }
  assert {
    condition = alltrue(flatten([
      for p in [aws_sns_topic_policy.this[0].policy, aws_sqs_queue_policy.failure[0].policy] : [
        for s in jsondecode(p).Statement : [
          for a in try(flatten([s.Principal.AWS]), []) : a == "*" || endswith(a, ":root")
        ]
      ]
    ]))
    error_message = "every AWS principal of the resource policies must be an account (or * in the deny)"
  }
  assert {
    condition = jsondecode(aws_sns_topic_policy.this[0].policy).Statement[0].Principal.AWS == ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root", "arn:aws:iam::777788889999:root"] && jsondecode(aws_sns_topic_policy.this[0].policy).Statement[0].Condition == {
      ArnLike = { "aws:PrincipalArn" = ["arn:aws:iam::111122223333:role/upstream", "arn:aws:iam::444455556666:role/path/job", "arn:aws:iam::111122223333:user/ops", "arn:aws:iam::777788889999:*"] }
    }
    error_message = "publishers and operators must be allowed by account and narrowed to their ARNs (a whole account: any of its principals)"
  }
  assert {
    condition = jsondecode(aws_sqs_queue_policy.failure[0].policy).Statement[1].Condition == {
      ArnLike = { "aws:PrincipalArn" = ["arn:aws:iam::111122223333:user/ops", "arn:aws:iam::777788889999:*"] }
    }
    error_message = "the failure queue's operator statement must be narrowed to the operators"
  }
}

# SNS metrics live in the topic owner's account: alarms on a foreign topic could never fire.
run "foreign_topic_has_no_sns_alarms" {
  command   = apply
  state_key = "foreign_topic"
  variables {
    create_topic   = false
    topic_arn      = "arn:aws:sns:eu-west-1:444455556666:upstream-results"
    publisher_arns = []
  }
  assert {
    condition     = !contains(keys(aws_cloudwatch_metric_alarm.this), "sns-notifications-failed") && !contains(keys(aws_cloudwatch_metric_alarm.this), "sns-dead-letter-failed") && contains(keys(aws_cloudwatch_metric_alarm.this), "function-errors")
    error_message = "a topic of another account must get no SNS alarms"
  }
}

run "own_accounts_existing_topic_keeps_sns_alarms" {
  command   = apply
  state_key = "own_topic"
  variables {
    create_topic   = false
    topic_arn      = "arn:aws:sns:eu-west-1:111122223333:upstream-results"
    publisher_arns = []
  }
  assert {
    condition     = contains(keys(aws_cloudwatch_metric_alarm.this), "sns-notifications-failed") && aws_cloudwatch_metric_alarm.this["sns-dead-letter-failed"].dimensions == tomap({ TopicName = "upstream-results" })
    error_message = "a topic of this account must keep its SNS alarms"
  }
}

# A queue nobody touches may stop sending metrics: the alarm must not return to OK by itself.
run "failure_queue_alarm_keeps_its_state_without_data" {
  command = apply
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["failure-queue-not-empty"].treat_missing_data == "ignore" && aws_cloudwatch_metric_alarm.this["function-errors"].treat_missing_data == "notBreaching"
    error_message = "the failure-queue alarm must ignore missing data"
  }
  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.this["async-events-dropped"].alarm_description, "in the failure queue")
    error_message = "async-events-dropped must say the events are in the failure queue when it exists"
  }
}

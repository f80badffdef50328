# Values the mocked AWS provider returns for computed attributes. The provider still validates
# arguments (ARNs must look like ARNs). Shared by the module's and the examples' tests.

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::111122223333:role/sidecar"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-west-1:111122223333:sidecar"
  }
}

mock_resource "aws_lambda_function" {
  defaults = {
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:sidecar"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/sidecar"
  }
}

mock_resource "aws_security_group" {
  defaults = {
    id = "sg-0123456789abcdef0"
  }
}

mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:eu-west-1:111122223333:queue"
    id  = "https://sqs.eu-west-1.amazonaws.com/111122223333/queue"
    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/queue"
  }
}

# Distinct queue ARNs, so that the module's tests can tell the failure queue from the delivery
# queue. The targets are the module's own resources; the examples, whose queues are in
# module.sidecar, keep the defaults above.
override_resource {
  target = aws_sqs_queue.failure
  values = {
    arn = "arn:aws:sqs:eu-west-1:111122223333:sidecar-failures"
    id  = "https://sqs.eu-west-1.amazonaws.com/111122223333/sidecar-failures"
    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/sidecar-failures"
  }
}

override_resource {
  target = aws_sqs_queue.delivery
  values = {
    arn = "arn:aws:sqs:eu-west-1:111122223333:sidecar"
    id  = "https://sqs.eu-west-1.amazonaws.com/111122223333/sidecar"
    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/sidecar"
  }
}

# Data sources: the region the module deploys to, the account (foreign topic or not).
mock_data "aws_region" {
  defaults = {
    name = "eu-west-1"
  }
}

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "111122223333"
  }
}

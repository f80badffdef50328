# The complete example plans and applies with its documented inputs (mocked AWS provider).

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  lambda_zip_path   = "../../tests/fixtures/function.zip"
  nfs_server        = "10.0.8.10"
  nfs_export        = "/processingresults"
  nfs_cluster_cidrs = ["10.0.8.0/26"]
  vpc_id            = "vpc-0123456789abcdef0"
  subnet_ids        = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  publisher_arns    = ["arn:aws:iam::111122223333:role/processing-job"]
}

run "complete" {
  command = apply

  assert {
    condition     = output.delivery_queue_url != null && output.failure_queue_arn != null && output.security_group_id != null
    error_message = "the complete example must deliver through SQS with a failure queue and a security group"
  }
}

# The e2e example applies with only a zip and the server's address (mocked AWS provider).

mock_provider "aws" {
  source = "../../tests/mocks"

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "000000000000"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_resource "aws_vpc" {
    defaults = {
      id = "vpc-0e2e0e2e0e2e0e2e0"
    }
  }

  mock_resource "aws_subnet" {
    defaults = {
      id = "subnet-0e2e0e2e0e2e0e2e0"
    }
  }
}

variables {
  lambda_zip_path = "../../tests/fixtures/function-x86_64.zip"
  nfs_server      = "172.17.0.1"
}

# The zip is named ...-x86_64.zip: this run also shows the architecture is taken from the name (the
# module rejects a zip whose name names another architecture).
run "creates_its_own_network" {
  command = apply

  assert {
    condition     = length(aws_vpc.this) == 1 && length(aws_subnet.this) == 1 && aws_subnet.this[0].vpc_id == aws_vpc.this[0].id
    error_message = "a VPC and a subnet must be created when none are given"
  }
  assert {
    condition     = module.nfs_sidecar.security_group_id != null && output.subnet_ids == tolist([aws_subnet.this[0].id]) && output.vpc_id == aws_vpc.this[0].id
    error_message = "the function must run in the created subnet with a created security group"
  }
  assert {
    condition     = output.topic_arn != null && output.failure_queue_url != null && output.delivery_queue_url == null
    error_message = "direct delivery with a failure queue by default"
  }
}

run "existing_network_and_sqs" {
  command = apply
  # Own state: a fresh deployment into an existing network.
  state_key = "existing"

  variables {
    vpc_id         = "vpc-0a1b2c3d"
    subnet_ids     = ["subnet-0a1b2c3d"]
    delivery       = "sqs"
    nfs_port       = null
    nfs_mount_port = null
  }

  assert {
    condition     = length(aws_vpc.this) == 0 && length(aws_subnet.this) == 0 && output.subnet_ids == tolist(["subnet-0a1b2c3d"])
    error_message = "given subnets must be used as they are"
  }
  assert {
    condition     = output.delivery_queue_url != null
    error_message = "sqs delivery must create the delivery queue"
  }
}

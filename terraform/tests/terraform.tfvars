# The inputs every test file of the module starts from (terraform test reads this file from the
# tests folder); a file's own `variables {}` and each run's override them.
name            = "sidecar"
lambda_zip_path = "tests/fixtures/function.zip"
nfs_server      = "10.0.8.10"
nfs_export      = "/processingresults"
subnet_ids      = ["subnet-0a1b2c3d"]
vpc_id          = "vpc-0a1b2c3d"
publisher_arns  = ["arn:aws:iam::111122223333:role/upstream"]

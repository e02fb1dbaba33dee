"""Adapters for the ports: boto3 (S3, SNS), pynamodb (DynamoDB), hvac (Vault)."""

"""AWS's payload and time limits that the services must stay within, named once.

A message, item or response that grows with a file's part count breaks one of these for
large files; nothing here may (docs/limits.md). S3's own multipart limits live in
shared/multipart.py, which the client shares.
"""

from __future__ import annotations

from typing import Final

KIB: Final = 1024

# SNS publishes and SQS messages: 256 KiB each, the envelope included
SNS_MAX_MESSAGE_BYTES: Final = 256 * KIB
SQS_MAX_MESSAGE_BYTES: Final = 256 * KIB
# one DynamoDB item, attribute names and values together
DYNAMODB_MAX_ITEM_BYTES: Final = 400 * KIB
# a DynamoDB transaction: 100 actions, 4 MB in all
DYNAMODB_MAX_TRANSACTION_ITEMS: Final = 100
# a synchronous Lambda invocation's request and response (API Gateway proxies it)
LAMBDA_MAX_PAYLOAD_BYTES: Final = 6 * 1024 * KIB
# an API Gateway REST API request body
API_GATEWAY_MAX_BODY_BYTES: Final = 10 * 1024 * KIB
# an API Gateway REST API integration (the Lambda behind it) must answer within 29 s
API_GATEWAY_TIMEOUT_S: Final = 29
LAMBDA_MAX_TIMEOUT_S: Final = 900
LAMBDA_MAX_MEMORY_MB: Final = 10_240
SQS_MAX_VISIBILITY_TIMEOUT_S: Final = 12 * 3600
SQS_MAX_DELAY_S: Final = 900
# a presigned URL signed with an IAM role's temporary credentials lives at most as long as
# they do; with SigV4 at most 7 days in any case
PRESIGNED_URL_MAX_LIFETIME_S: Final = 7 * 24 * 3600


def utf8_size(text: str) -> int:
    return len(text.encode())

"""Sizes as AWS counts them against its limits (shared/limits.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

# a Lambda behind API Gateway (proxy integration) answers with this JSON around its body
_PROXY_RESPONSE_OVERHEAD = {
    "statusCode": 200,
    "headers": {"Content-Type": "application/json"},
    "isBase64Encoded": False,
}


def _number_bytes(text: str) -> int:
    """DynamoDB's size of a number: 1 byte per two significant digits, plus 1 (and 1 for
    a minus sign)."""
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return -(-len(digits) // 2) + 1 + (1 if text.startswith("-") else 0)


def _binary_bytes(value: bytes | str) -> int:
    # boto3 gives bytes; pynamodb's serialize() gives them base64-encoded
    return len(value) if isinstance(value, bytes) else len(base64.b64decode(value))


def attribute_value_bytes(value: dict[str, Any]) -> int:
    """The size of one attribute value in DynamoDB's low-level form (``{"S": ...}``...)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return _number_bytes(data)
    if kind == "B":
        return _binary_bytes(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(item.encode()) for item in data)
    if kind == "NS":
        return sum(_number_bytes(item) for item in data)
    if kind == "BS":
        return sum(_binary_bytes(item) for item in data)
    if kind == "L":
        return 3 + sum(1 + attribute_value_bytes(item) for item in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_value_bytes(v) for k, v in data.items())
    raise ValueError(f"not a DynamoDB attribute value: {kind}")


def dynamodb_item_bytes(item: dict[str, dict[str, Any]]) -> int:
    """An item's size as DynamoDB counts it against its 400 KB: the UTF-8 bytes of every
    attribute name plus the size of its value."""
    return sum(len(name.encode()) + attribute_value_bytes(value) for name, value in item.items())


def lambda_proxy_response_bytes(body: Any) -> int:
    """Bytes of a Lambda's answer to API Gateway for this JSON body: the body is a JSON
    string inside the response's JSON, so its quotes are escaped once more."""
    response = dict(_PROXY_RESPONSE_OVERHEAD, body=json.dumps(body, separators=(",", ":")))
    return len(json.dumps(response).encode())

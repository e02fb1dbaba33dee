"""What the cores do alike over the ObjectStorage port."""

from __future__ import annotations

from shared.ports import ObjectStorage


def abort_open_uploads(storage: ObjectStorage, bucket: str, key: str) -> int:
    """Abort every multipart upload open under ``key``, recorded or not (one a killed
    invocation opened before it could record its id); how many there were."""
    found = [m for m in storage.list_multipart_uploads(bucket, prefix=key) if m.key == key]
    for multipart in found:
        storage.abort_multipart(bucket, key, multipart.upload_id)
    return len(found)

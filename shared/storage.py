"""What the cores do alike over the ObjectStorage port."""

from __future__ import annotations

from shared.ports import ObjectStorage


def delete_if_present(storage: ObjectStorage, bucket: str, key: str) -> bool:
    """Delete the object; whether it was there. The delete goes out either way: a
    completion or copy under way may make the object appear just after the HEAD."""
    found = storage.head(bucket, key) is not None
    storage.delete(bucket, key)
    return found


def abort_open_uploads(storage: ObjectStorage, bucket: str, key: str) -> int:
    """Abort every multipart upload open under ``key``, recorded or not (one a killed
    invocation opened before it could record its id); how many there were."""
    found = [m for m in storage.list_multipart_uploads(bucket, prefix=key) if m.key == key]
    for multipart in found:
        storage.abort_multipart(bucket, key, multipart.upload_id)
    return len(found)

"""The object storage port on S3 (boto3): multipart, presigning, ranges, part copies
(IFRS's resumable copy, functions/ifrs/copier.py, is made of UploadPartCopy calls)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.aws import client
from shared.crypt.checksums import sha256_from_header, sha256_header
from shared.ports import ObjectInfo, ObjectNotFound, OpenMultipart, PartInfo

_NOT_FOUND = {"404", "NoSuchKey", "NoSuchUpload", "NotFound", "NoSuchBucket"}


def _strip(etag: str) -> str:
    return etag.strip('"')


def _not_found(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _NOT_FOUND


class S3Storage:
    def __init__(self, s3_client: Any | None = None) -> None:
        self._s3 = s3_client or client("s3")

    def create_multipart(self, bucket: str, key: str, *, checksum_sha256: bool = False) -> str:
        extra = {"ChecksumAlgorithm": "SHA256"} if checksum_sha256 else {}
        return self._s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]

    def presign_upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        expires_s: int,
        *,
        content_length: int,
        content_md5: str | None = None,
        checksum_sha256: str | None = None,
    ) -> str:
        """The Content-Length (and Content-MD5, x-amz-checksum-sha256) given become signed
        headers of the URL (X-Amz-SignedHeaders), so S3 answers SignatureDoesNotMatch (403)
        to any other value, and BadDigest (400) to a body that does not match the digest."""
        params: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": part_number,
            "ContentLength": content_length,
        }
        if content_md5 is not None:
            params["ContentMD5"] = content_md5
        if checksum_sha256 is not None:
            params["ChecksumSHA256"] = sha256_header(checksum_sha256)
        return self._s3.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_s)

    def upload_part(
        self, bucket: str, key: str, upload_id: str, part_number: int, data: bytes
    ) -> str:
        """Upload one part; its ETag, which (with SSE-S3 or none) is the MD5 of the bytes S3
        received: the caller compares it with its own."""
        response = self._s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=data
        )
        return _strip(response["ETag"])

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        parts: list[PartInfo] = []
        marker = 0
        try:
            while True:
                page = self._s3.list_parts(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
                )
                for part in page.get("Parts", []):
                    reported = part.get("ChecksumSHA256")
                    parts.append(
                        PartInfo(
                            part["PartNumber"],
                            part["Size"],
                            _strip(part["ETag"]),
                            part.get("LastModified"),
                            sha256_from_header(reported) if reported else None,
                        )
                    )
                if not page.get("IsTruncated"):
                    return parts
                marker = int(page["NextPartNumberMarker"])
        except ClientError as error:
            if _not_found(error):
                raise ObjectNotFound(f"{bucket}/{key} upload") from error
            raise

    def upload_part_copy(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        upload_id: str,
        part_number: int,
        start: int,
        end: int,
    ) -> str:
        try:
            response = self._s3.upload_part_copy(
                Bucket=dst_bucket,
                Key=dst_key,
                UploadId=upload_id,
                PartNumber=part_number,
                CopySource={"Bucket": src_bucket, "Key": src_key},
                CopySourceRange=f"bytes={start}-{end}",
            )
        except ClientError as error:
            if _not_found(error):
                raise ObjectNotFound(f"{src_bucket}/{src_key} or {dst_bucket}/{dst_key}") from error
            raise
        return _strip(response["CopyPartResult"]["ETag"])

    def complete_multipart(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[tuple[int, str]],
        *,
        checksums_sha256: list[str] | None = None,
    ) -> str:
        listed: list[dict[str, Any]] = [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in parts]
        if checksums_sha256 is not None:
            for entry, digest in zip(listed, checksums_sha256, strict=True):
                entry["ChecksumSHA256"] = sha256_header(digest)
        try:
            response = self._s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )
        except ClientError as error:
            if _not_found(error):
                raise ObjectNotFound(f"{bucket}/{key} upload") from error
            raise
        return _strip(response["ETag"])

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            self._s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if not _not_found(error):
                raise

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[OpenMultipart]:
        found: list[OpenMultipart] = []
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if prefix:
            kwargs["Prefix"] = prefix
        while True:
            page = self._s3.list_multipart_uploads(**kwargs)
            for upload in page.get("Uploads", []):
                found.append(OpenMultipart(upload["Key"], upload["UploadId"], upload["Initiated"]))
            if not page.get("IsTruncated"):
                return found
            kwargs["KeyMarker"] = page["NextKeyMarker"]
            kwargs["UploadIdMarker"] = page["NextUploadIdMarker"]

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            response = self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _not_found(error):
                return None
            raise
        return ObjectInfo(response["ContentLength"], _strip(response["ETag"]))

    def put(self, bucket: str, key: str, data: bytes) -> str:
        return _strip(self._s3.put_object(Bucket=bucket, Key=key, Body=data)["ETag"])

    def get(self, bucket: str, key: str) -> bytes:
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _not_found(error):
                raise ObjectNotFound(f"{bucket}/{key}") from error
            raise
        return response["Body"].read()

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` inclusive."""
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")
        except ClientError as error:
            if _not_found(error):
                raise ObjectNotFound(f"{bucket}/{key}") from error
            raise
        return response["Body"].read()

    def delete(self, bucket: str, key: str) -> None:
        self._s3.delete_object(Bucket=bucket, Key=key)

    def presign_get(self, bucket: str, key: str, expires_s: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
        )

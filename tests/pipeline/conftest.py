"""The pipeline tests reuse the IRS fixtures that put a realistic upload into the inbox."""

from tests.irs.conftest import (  # noqa: F401 - fixtures
    archive_public,
    buckets,
    s3,
    submit,
    submitter,
)

"""The pipeline tests reuse the IRS fixtures that put a realistic upload into the inbox, and
the in-process harness (an inbox of its own, the stack's EKSS) for the kill-point sweep."""

from tests.irs.conftest import (  # noqa: F401 - fixtures
    archive_public,
    buckets,
    ekss,
    harness,
    interrogations,
    s3,
    submit,
    submitter,
    vault,
)

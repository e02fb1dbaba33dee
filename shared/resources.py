"""The single declaration of every resource the file services use.

Buckets, event topics, consumer queues (each with a dead-letter queue),
tables, schedules and which function consumes what are declared here once.
The embedded stack's bootstrap, each function's environment and Chalice
config, and the Terraform are all derived from this module, so renaming a
queue here renames it everywhere.

Run-time code (the Chalice apps name their event sources with it) and ``infra/``
(which derives the IaC from it) both import it; it imports only the event catalogue.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from shared.events import EVENT_TYPES

DEFAULT_PREFIX = "fs"
# the account ids of the local AWS-API servers (ARNs of topics and queues on them)
MOTO_ACCOUNT = "123456789012"
LOCALSTACK_ACCOUNT = "000000000000"
PREFIX_ENV = "FS_RESOURCE_PREFIX"


def prefix() -> str:
    """The deployment's name prefix (``fs`` unless FS_RESOURCE_PREFIX says otherwise)."""
    return os.environ.get(PREFIX_ENV, DEFAULT_PREFIX)


# ---------------------------------------------------------------- declaration


@dataclass(frozen=True)
class Function:
    name: str
    http: bool
    memory_mb: int
    timeout_s: int
    description: str
    # reserved concurrency of each of its Lambdas: a runaway caller cannot take the account's
    # whole concurrency, and the function cannot be starved by the others
    reserved_concurrency: int = 20


@dataclass(frozen=True)
class Bucket:
    key: str  # logical name: inbox, staging, permanent, outbox
    description: str
    # a lifecycle rule aborts multipart uploads left open this long (a killed invocation's,
    # an abandoned client's): longer than any legitimate upload or copy into the bucket
    abort_incomplete_after_days: int = 7
    # its writers compare each part's ETag with the part's MD5 (UCS's close, IRS's staging):
    # with SSE-KMS an ETag is no MD5, so such a bucket is encrypted with SSE-S3
    md5_etags: bool = False
    # versioned: an overwritten or deleted object stays as a noncurrent version until the
    # lifecycle rule (infra/shared_terraform.py) expires it
    versioned: bool = False


@dataclass(frozen=True)
class S3Source:
    bucket: str
    events: tuple[str, ...] = ("s3:ObjectCreated:*",)


@dataclass(frozen=True)
class Queue:
    key: str
    consumer: str  # function name
    handler: str  # the handler's function name in that app
    topics: tuple[str, ...] = ()  # event types delivered here
    s3: S3Source | None = None
    max_receive_count: int = 5
    visibility_timeout_s: int = 60
    # functions that send to this queue themselves (IRS hands a long file on to a next call)
    senders: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    key: str
    owner: str  # the function whose store defines its records (infra/tables.py finds them)


@dataclass(frozen=True)
class Schedule:
    function: str
    handler: str
    rate_minutes: int


@dataclass(frozen=True)
class Declaration:
    functions: tuple[Function, ...]
    buckets: tuple[Bucket, ...]
    topics: tuple[str, ...]
    publishers: dict[str, tuple[str, ...]]  # function -> event types it publishes
    bucket_access: dict[str, dict[str, tuple[str, ...]]]  # function -> bucket -> modes
    queues: tuple[Queue, ...]
    tables: tuple[Table, ...]
    schedules: tuple[Schedule, ...]
    vault_readers: tuple[str, ...] = field(default=("ekss",))

    def function(self, name: str) -> Function:
        return next(f for f in self.functions if f.name == name)


DECLARATION = Declaration(
    functions=(
        Function("wkvs", True, 128, 10, "well-known values"),
        Function("wps", True, 256, 15, "work packages and work order tokens"),
        # an HTTP function answers within API Gateway's 29 s (shared.limits), or not at all
        Function("ucs", True, 256, 29, "upload controller"),
        # 4096 MB: four staged parts of 960 MiB in memory at once (functions/irs/sizing.py), so
        # a 5 TiB object's 550 MB parts (10,000 of them) are staged with every overlap
        Function("irs", False, 4096, 900, "interrogation room: re-encryption into staging"),
        Function("ekss", True, 256, 15, "key store"),
        Function("ifrs", False, 256, 900, "file registry: staging, permanent, outbox"),
        Function("dcs", True, 256, 29, "download controller"),
    ),
    buckets=(
        # UCS's clean-up cancels an upload idle for 7 days (by its last part, not its age);
        # the rule is the backstop for what it misses, and must not cut short an active one:
        # the largest file (5 TiB) takes 90 days only below about 0.7 MB/s
        Bucket("inbox", "encrypted uploads as the submitters sent them", 90, md5_etags=True),
        Bucket(
            "staging", "re-encrypted, header-less objects awaiting registration", md5_etags=True
        ),
        Bucket("permanent", "registered files", versioned=True),
        Bucket("outbox", "files staged for download"),
    ),
    topics=EVENT_TYPES,
    # every publisher of FileDeletionConfirmed holds something of a file: UCS waits for all
    # of them (deletion_holders()) before it publishes FileDeleted
    publishers={
        "ucs": ("FileUploadReceived", "FileDeletionRequested", "FileDeleted"),
        "irs": ("FileInterrogationSuccess", "FileInterrogationFailure", "FileDeletionConfirmed"),
        "ifrs": ("FileInternallyRegistered", "FileStagedForDownload", "FileDeletionConfirmed"),
        "dcs": ("NonStagedFileRequested", "FileDownloadServed", "FileDeletionConfirmed"),
        "ekss": ("FileDeletionConfirmed",),
        "wps": ("WorkPackageCreated", "WorkOrderTokenIssued", "WorkPackageRevoked"),
    },
    bucket_access={
        # UCS writes the declared part checksums beside the object (manifests/<id>.json)
        "ucs": {"inbox": ("presign-write", "write", "multipart", "read-meta", "delete")},
        "irs": {"inbox": ("read",), "staging": ("write", "multipart", "read-meta", "delete")},
        "ifrs": {
            "staging": ("read", "delete"),
            "permanent": ("read", "write", "multipart", "delete"),
            "outbox": ("write", "multipart", "read-meta", "delete"),
        },
        "dcs": {"outbox": ("presign-read", "read", "read-meta", "delete")},
        # EKSS reads the header of a file under interrogation itself (POST /secrets)
        "ekss": {"inbox": ("read",)},
    },
    # consumers, tables and schedules are declared as the services that own them land
    queues=(
        Queue(
            "irs-inbox",
            consumer="irs",
            handler="on_inbox_object",
            topics=("FileUploadReceived", "FileDeletionRequested"),
            s3=S3Source("inbox"),
            visibility_timeout_s=960,  # above IRS's 900 s timeout and its lease
            senders=("irs",),  # continuations of files too large for one invocation
        ),
        Queue(
            "ucs-events",
            consumer="ucs",
            handler="on_event",
            topics=(
                "FileInterrogationSuccess",
                "FileInterrogationFailure",
                "FileInternallyRegistered",
                "FileDeletionConfirmed",
            ),
        ),
        Queue(
            "ifrs-events",
            consumer="ifrs",
            handler="on_event",
            topics=("FileInterrogationSuccess", "NonStagedFileRequested", "FileDeletionRequested"),
            visibility_timeout_s=960,  # above IFRS's 900 s timeout and its lease
            senders=("ifrs",),  # the rest of a copy too long for one invocation, handed on
        ),
        Queue(
            "dcs-events",
            consumer="dcs",
            handler="on_event",
            topics=("FileInternallyRegistered", "FileStagedForDownload", "FileDeletionRequested"),
        ),
        Queue(
            "ekss-events",
            consumer="ekss",
            handler="on_event",
            # deletions and failures: the secret goes; registrations: envelopes from then on
            topics=(
                "FileDeletionRequested",
                "FileInterrogationFailure",
                "FileInternallyRegistered",
            ),
        ),
    ),
    tables=(
        Table("work_packages", "wps"),
        Table("interrogations", "irs"),
        # one item per staged part (md5, sha256), keyed by inbox object key and part number
        Table("interrogation_parts", "irs"),
        Table("files", "ifrs"),
        Table("copies", "ifrs"),  # outbox copies under way: lease and checkpoint
        Table("boxes", "ucs"),
        Table("uploads", "ucs"),
        Table("drs_objects", "dcs"),
    ),
    schedules=(
        Schedule("ucs", "clean_abandoned_uploads", rate_minutes=60),
        Schedule("dcs", "clean_outbox", rate_minutes=60),
    ),
)


# ---------------------------------------------------------------- concrete names


def bucket_name(key: str, pfx: str | None = None) -> str:
    return f"{pfx or prefix()}-{key}"


def topic_name(event_type: str, pfx: str | None = None) -> str:
    return f"{pfx or prefix()}-{event_type}"


def queue_name(key: str, pfx: str | None = None) -> str:
    return f"{pfx or prefix()}-{key}"


def dlq_name(key: str, pfx: str | None = None) -> str:
    return f"{queue_name(key, pfx)}-dlq"


def table_name(key: str, pfx: str | None = None) -> str:
    return f"{pfx or prefix()}-{key}"


def deletion_holders(decl: Declaration | None = None) -> tuple[str, ...]:
    """The functions that hold something of a file and confirm its deletion (sorted)."""
    publishers = (decl or DECLARATION).publishers
    return tuple(sorted(f for f, events in publishers.items() if "FileDeletionConfirmed" in events))


def queue_for(function: str, handler: str) -> str:
    """The concrete queue name a function's handler consumes (used by app.py)."""
    for queue in DECLARATION.queues:
        if queue.consumer == function and queue.handler == handler:
            return queue_name(queue.key)
    raise KeyError(f"no queue declared for {function}.{handler}")


def schedule_rate(function: str, handler: str) -> int:
    """Minutes between runs of a declared scheduled handler (used by app.py)."""
    for schedule in DECLARATION.schedules:
        if schedule.function == function and schedule.handler == handler:
            return schedule.rate_minutes
    raise KeyError(f"no schedule declared for {function}.{handler}")


def topic_arn(event_type: str, region: str, account: str, pfx: str | None = None) -> str:
    return f"arn:aws:sns:{region}:{account}:{topic_name(event_type, pfx)}"


def function_environment(
    function: str, *, region: str, account: str, pfx: str | None = None
) -> dict[str, str]:
    """The resource part of a function's environment: its buckets, topics and tables.

    Each value is JSON; the service's config model reads them as
    ``<SVC>_BUCKETS``, ``<SVC>_TOPICS`` and ``<SVC>_TABLES``.
    """
    upper = function.upper()
    buckets = {key: bucket_name(key, pfx) for key in DECLARATION.bucket_access.get(function, {})}
    topics = {
        event: topic_arn(event, region, account, pfx)
        for event in DECLARATION.publishers.get(function, ())
    }
    tables = {t.key: table_name(t.key, pfx) for t in DECLARATION.tables if t.owner == function}
    env = {
        f"{upper}_BUCKETS": json.dumps(buckets, sort_keys=True),
        f"{upper}_TOPICS": json.dumps(topics, sort_keys=True),
        f"{upper}_TABLES": json.dumps(tables, sort_keys=True),
    }
    return env

"""Each service's Chalice app wired with in-memory fakes, and what an attacker holds.

The cores are the real ones (functions/*/core.py and friends), as inject.py builds them;
only the adapters (tables, buckets, topics, Vault) are the fakes of tests/fakes. A world
also holds the credentials an attacker with a valid token has (operator, WPAT, WOTs of
every kind, EKSS's callers) and the real ids (box, uploads, files, packages, secrets),
so that the fuzz reaches past the token checks into the cores.
"""

from __future__ import annotations

import copy
import importlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from shared.crypt.keys import encode_key, generate_keypair
from shared.crypt.sealedbox import unseal
from shared.tokens import (
    AUDIENCE_DOWNLOAD,
    AUDIENCE_UPLOAD,
    TokenSigner,
    TokenVerifier,
    generate_signing_key,
    hash_secret,
)

OPERATOR = "operator-token-of-the-fuzz-world-0123"
IRS_TOKEN, DCS_TOKEN = "irs-caller-token-0123456789", "dcs-caller-token-0123456789"
STORAGE_ALIAS = "fuzz-storage"
INBOX, OUTBOX = "inbox", "outbox"


@dataclass
class World:
    """One service's app on fakes; ``stores``: what a refused request must leave as it was."""

    name: str
    module: ModuleType
    wiring: Any
    stores: dict[str, Any]
    tokens: list[str] = field(default_factory=list)  # credentials an attacker may hold
    ids: list[str] = field(default_factory=list)  # real ids for path parameters
    keys: list[str] = field(default_factory=list)  # real public keys (base64)
    params: dict[str, list[str]] = field(default_factory=dict)  # real values by path name

    def snapshot(self) -> dict[str, Any]:
        return {name: _state(store) for name, store in self.stores.items()}

    @contextmanager
    def installed(self) -> Iterator[None]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(self.module, "inject", lambda: self.wiring)
            yield


def _state(store: Any) -> Any:
    """A comparable deep copy of a fake's data (its dicts, lists and sets)."""
    data = vars(store) if hasattr(store, "__dict__") else store
    return {
        name: copy.deepcopy(value)
        for name, value in data.items()
        if isinstance(value, dict | list | set | tuple | int | str)
        and not name.startswith("_")
        and name not in ("reads",)
    }


@dataclass(frozen=True)
class Signing:
    private_pem: str
    public_pem: str

    def signer(self) -> TokenSigner:
        return TokenSigner(self.private_pem, 300)

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(self.public_pem)


def signing() -> Signing:
    return Signing(*generate_signing_key())


# ------------------------------------------------------------------ WPS


def wps_world() -> World:
    from functions.wps.core import WorkPackageService
    from tests.fakes.wps import EnvelopePublisher, InMemoryWorkPackageRepository

    module = importlib.import_module("functions.wps.app")
    repository, publisher = InMemoryWorkPackageRepository(), EnvelopePublisher()
    packages = WorkPackageService(repository, signing().signer(), publisher)
    cfg = SimpleNamespace(operator_token_sha256=hash_secret(OPERATOR))
    private, public = generate_keypair()
    box_id, file_id = str(uuid.uuid4()), str(uuid.uuid4())
    upload = packages.create(
        type="upload",
        user_public_crypt4gh_key=encode_key(public),
        user_id="user-1",
        file_upload_box_id=box_id,
        research_data_upload_box_id=box_id,
    )
    download = packages.create(
        type="download",
        user_public_crypt4gh_key=encode_key(public),
        user_id="user-1",
        file_ids=[file_id],
    )
    wpats = [unseal(c.sealed_token, private) for c in (upload, download)]
    return World(
        "wps",
        module,
        SimpleNamespace(cfg=cfg, packages=packages),
        {"packages": repository, "events": publisher},
        tokens=[OPERATOR, *wpats],
        ids=[upload.id, download.id, box_id, file_id],
        keys=[encode_key(public)],
        params={"package_id": [upload.id, download.id], "box_id": [box_id], "file_id": [file_id]},
    )


# ------------------------------------------------------------------ UCS


def ucs_world() -> World:
    from functions.ucs.auth import Authorizer
    from functions.ucs.boxes import BoxAdmin
    from functions.ucs.core import UploadController, UploadPolicy
    from functions.ucs.deletion import DeletionCoordinator
    from functions.ucs.model import NewUpload
    from functions.ucs.outcomes import OutcomeRecorder
    from shared.clock import utcnow
    from shared.crypt.c4gh import encrypted_size
    from shared.multipart import MIB, MIN_PART_SIZE
    from tests.fakes import InMemoryStorage, RecordingPublisher
    from tests.fakes.ucs import InMemoryUcsRepository

    module = importlib.import_module("functions.ucs.app")
    repository, storage, publisher = (
        InMemoryUcsRepository(),
        InMemoryStorage(),
        RecordingPublisher(),
    )
    policy = UploadPolicy(
        inbox_bucket=INBOX,
        storage_alias=STORAGE_ALIAS,
        max_open_uploads_per_box=5,
        retry_after_s=30,
        part_url_min_lifetime_s=300,
        part_url_bytes_per_s=MIB,
        part_url_max_lifetime_s=3600,
    )
    uploads = UploadController(repository, storage, publisher, policy)
    keys = signing()
    boxes = BoxAdmin(repository, 10**12)
    cfg = SimpleNamespace(
        operator_token_sha256=hash_secret(OPERATOR),
        storage_alias=STORAGE_ALIAS,
        retry_after_s=30,
    )
    wiring = SimpleNamespace(
        cfg=cfg,
        auth=Authorizer(keys.verifier(), cfg.operator_token_sha256),
        uploads=uploads,
        boxes=boxes,
        cleaner=None,  # the schedule is no HTTP route
        outcomes=OutcomeRecorder(repository, storage, INBOX, utcnow),
        deletions=DeletionCoordinator(repository, uploads, publisher, utcnow),
    )
    box_id = boxes.create(10**10).id
    size = 1000
    request = NewUpload("a.txt", size, encrypted_size(size), MIN_PART_SIZE, False)
    file_id = uploads.create_upload(box_id, request, created_by="user-1").id
    _, public = generate_keypair()
    signer = keys.signer()
    user = {"user_id": "user-1", "user_public_crypt4gh_key": encode_key(public)}
    tokens = [OPERATOR]
    for work_type in ("view", "create", "upload", "close", "delete"):
        claims = {"work_type": work_type, "box_id": box_id, **user}
        if work_type == "create":
            claims["alias"] = "b.txt"
        if work_type in ("upload", "close", "delete"):
            claims["file_id"] = file_id
        tokens.append(signer.sign(claims, AUDIENCE_UPLOAD))
    # a download WOT is valid, for another service
    tokens.append(signer.sign({"type": "download", "file_id": file_id, **user}, AUDIENCE_DOWNLOAD))
    return World(
        "ucs",
        module,
        wiring,
        {"repository": repository, "storage": storage, "events": publisher},
        tokens=tokens,
        ids=[box_id, file_id],
        keys=[encode_key(public)],
        params={"box_id": [box_id], "file_id": [file_id], "part_no": ["1", "2"]},
    )


# ------------------------------------------------------------------ DCS


def dcs_world() -> World:
    from functions.dcs.auth import DownloadAuthorizer
    from functions.dcs.core import DownloadController
    from functions.dcs.deletion import DeletionHandler
    from shared.crypt import c4gh
    from shared.events import FileInternallyRegistered, FileStagedForDownload, ManifestRef
    from tests.fakes import InMemoryKeyStore, InMemoryStorage, RecordingPublisher
    from tests.fakes.dcs import InMemoryDrsRepository, policy

    module = importlib.import_module("functions.dcs.app")
    archive_private, _ = generate_keypair()
    repository, storage = InMemoryDrsRepository(), InMemoryStorage()
    publisher, key_store = RecordingPublisher(), InMemoryKeyStore(archive_private)
    downloads = DownloadController(
        repository=repository,
        storage=storage,
        publisher=publisher,
        keys=key_store,
        policy=policy(OUTBOX, "dcs.example.org"),
    )
    deletion = DeletionHandler(
        repository=repository, storage=storage, publisher=publisher, outbox_bucket=OUTBOX
    )
    keys = signing()
    wiring = SimpleNamespace(
        cfg=SimpleNamespace(),
        auth=DownloadAuthorizer(keys.verifier()),
        downloads=downloads,
        deletion=deletion,
    )
    size = 5000
    file_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for number, file_id in enumerate(file_ids):
        secret_id = f"secret-{number}"
        key_store.secrets[secret_id] = c4gh.new_session_key()
        key_store.registered.add(secret_id)
        downloads.on_registered(
            FileInternallyRegistered(
                file_id=file_id,
                box_id="box",
                staged_object_id="staged",
                staging_bucket="staging",
                secret_id=secret_id,
                offset=124,
                encrypted_part_size=size,
                parts_manifest=ManifestRef(
                    bucket="permanent",
                    key=f"manifests/object-{file_id}.json",
                    sha256="b" * 64,
                    size=1,
                    parts=1,
                ),
                decrypted_sha256="a" * 64,
                decrypted_size=size - 28,
                encrypted_size=size,
                object_id=f"object-{file_id}",
                bucket="permanent",
            )
        )
    # the first is staged (served), the second not (a request would stage it)
    storage.put(OUTBOX, f"object-{file_ids[0]}", bytes(size))
    downloads.on_staged(
        FileStagedForDownload(
            file_id=file_ids[0],
            target_object_id=f"object-{file_ids[0]}",
            target_bucket=OUTBOX,
            decrypted_sha256="a" * 64,
        )
    )
    _, public = generate_keypair()
    signer = keys.signer()
    user = {"user_id": "user-1", "user_public_crypt4gh_key": encode_key(public)}
    tokens = [
        signer.sign({"type": "download", "file_id": file_id, **user}, AUDIENCE_DOWNLOAD)
        for file_id in (file_ids[0], *file_ids)  # the staged file's twice: served more often
    ]
    tokens.append(signer.sign({"work_type": "view", "box_id": "box", **user}, AUDIENCE_UPLOAD))
    return World(
        "dcs",
        module,
        wiring,
        {"repository": repository, "storage": storage, "events": publisher},
        tokens=tokens,
        ids=file_ids,
        keys=[encode_key(public)],
        params={"file_id": file_ids},
    )


# ------------------------------------------------------------------ EKSS


class _ArchiveKey:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def private_key(self) -> bytes:
        return self.key


def ekss_world() -> World:
    from functions.ekss.core import SecretKeeper
    from functions.ekss.deletion import FileDeletion
    from functions.ekss.model import file_secret_id
    from functions.ekss.orders import EnvelopeOrders
    from tests.ekss.helpers import encrypt_upload
    from tests.fakes import InMemorySecretStore, InMemoryStorage, RecordingPublisher

    module = importlib.import_module("functions.ekss.app")
    archive_private, archive_public = generate_keypair()
    store, inbox, publisher = InMemorySecretStore(), InMemoryStorage(), RecordingPublisher()
    keeper = SecretKeeper(store, _ArchiveKey(archive_private), inbox, INBOX)
    keys = signing()
    cfg = SimpleNamespace(
        irs_token_sha256=hash_secret(IRS_TOKEN), dcs_token_sha256=hash_secret(DCS_TOKEN)
    )
    wiring = SimpleNamespace(
        cfg=cfg,
        keeper=keeper,
        orders=EnvelopeOrders(keys.verifier()),
        deletion=FileDeletion(keeper, publisher),
    )
    writer_private, writer_public = generate_keypair()
    registered, pending = str(uuid.uuid4()), str(uuid.uuid4())
    for file_id in (registered, pending):
        inbox.put(INBOX, file_id, encrypt_upload(b"x" * 1000, writer_private, archive_public))
    keeper.create_secret(registered, writer_public)
    keeper.mark_registered(registered)
    _, reader_public = generate_keypair()
    signer = keys.signer()
    wot = signer.sign(
        {
            "type": "download",
            "file_id": registered,
            "user_id": "user-1",
            "user_public_crypt4gh_key": encode_key(reader_public),
        },
        AUDIENCE_DOWNLOAD,
    )
    secret = file_secret_id(uuid.UUID(registered))
    return World(
        "ekss",
        module,
        wiring,
        {"secrets": store, "inbox": inbox, "events": publisher},
        tokens=[IRS_TOKEN, DCS_TOKEN, wot],
        ids=[secret, registered, pending, file_secret_id(uuid.UUID(pending))],
        keys=[encode_key(reader_public), encode_key(writer_public)],
        params={"secret_id": [secret], "client_pk": [encode_key(reader_public)]},
    )


# ------------------------------------------------------------------ WKVS


def wkvs_world() -> World:
    from functions.wkvs.config import WkvsConfig

    module = importlib.import_module("functions.wkvs.app")
    _, public = generate_keypair()
    cfg = WkvsConfig(
        crypt4gh_public_keys={STORAGE_ALIAS: encode_key(public)},
        wps_api_url="http://wps",
        ucs_api_url="http://ucs",
        dcs_api_url="http://dcs",
    )
    return World(
        "wkvs",
        module,
        SimpleNamespace(cfg=cfg),
        {},
        ids=["crypt4gh_public_keys", "wps_api_url"],
        keys=[encode_key(public)],
        params={"name": ["crypt4gh_public_keys", "wps_api_url"]},
    )


WORLDS: dict[str, Callable[[], World]] = {
    "wps": wps_world,
    "ucs": ucs_world,
    "dcs": dcs_world,
    "ekss": ekss_world,
    "wkvs": wkvs_world,
}

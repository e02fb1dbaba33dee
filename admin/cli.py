"""``fs-admin``: the operator's commands against a running archive.

By default it reads ``.stack/endpoints.json`` (the embedded stack); with
``--wkvs-url`` it finds the APIs through the well-known values instead and
takes the operator token from ``FS_ADMIN_TOKEN``. Operator calls are always
authenticated. Errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from connector.output import STATE_WORDS
from shared.crypt.keys import KeyFormatError, decode_public_key, encode_key

app = typer.Typer(
    name="fs-admin",
    help="Operator commands: upload boxes, work packages, file status and deletion.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class AdminError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Target:
    wps_url: str
    ucs_url: str
    token: str

    def client(self) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=30)


_state: dict[str, Any] = {}


@app.callback()
def _options(
    state_dir: Annotated[
        Path, typer.Option(help="Where the embedded stack wrote endpoints.json.")
    ] = Path(os.environ.get("FS_STACK_DIR", ".stack")),
    wkvs_url: Annotated[
        str | None,
        typer.Option(
            help="WKVS of the archive; the operator token then comes from FS_ADMIN_TOKEN."
        ),
    ] = None,
) -> None:
    _state["state_dir"] = state_dir
    _state["wkvs_url"] = wkvs_url


def _target() -> Target:
    token = os.environ.get("FS_ADMIN_TOKEN")
    wkvs_url = _state.get("wkvs_url")
    if wkvs_url is None:
        path = Path(_state["state_dir"]) / "endpoints.json"
        try:
            endpoints = json.loads(path.read_text())
        except FileNotFoundError as error:
            raise AdminError(
                f"no running stack: {path} does not exist (start one with `fs-stack up`, "
                "or give --wkvs-url and FS_ADMIN_TOKEN)",
                2,
            ) from error
        return Target(
            endpoints["wps_url"], endpoints["ucs_url"], token or endpoints["operator_token"]
        )
    if not token:
        raise AdminError("FS_ADMIN_TOKEN is not set: operator calls need the operator token", 2)
    values = _call(httpx.Client(timeout=30), "GET", f"{wkvs_url.rstrip('/')}/values", 200)
    return Target(values["wps_api_url"], values["ucs_api_url"], token)


def _call(
    client: httpx.Client, method: str, url: str, expect: int | tuple[int, ...], **kwargs: Any
) -> Any:
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        raise AdminError(f"cannot reach {url.split('?')[0]}: {type(error).__name__}", 4) from error
    if response.status_code not in (expect if isinstance(expect, tuple) else (expect,)):
        try:
            body = response.json()
            detail = f"{body.get('description')} ({body.get('exception_id')})"
        except (ValueError, AttributeError):
            detail = response.text[:200]
        raise AdminError(
            f"{method} {url.split('?')[0]} failed with {response.status_code}: {detail}"
        )
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def _public_key(path: Path) -> str:
    """A Crypt4GH public key file (or a file holding the bare base64 key) as base64."""
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise AdminError(f"cannot read the public key {path}: {error.strerror}", 2) from error
    lines = [line for line in text.splitlines() if not line.startswith("-----")]
    try:
        return encode_key(decode_public_key("".join(lines)))
    except KeyFormatError as error:
        raise AdminError(f"{path} is not a Crypt4GH public key ({error})", 2) from error


@app.command("create-box")
def create_box(
    max_size: Annotated[int | None, typer.Option(help="Size limit of the box in bytes.")] = None,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared/--private",
            help="Shared: every submitter of the box sees and changes every upload in it. "
            "Private (the default): each submitter only their own.",
        ),
    ] = False,
) -> None:
    """Create an upload box and print its id."""
    target = _target()
    body: dict[str, Any] = {"shared": shared}
    if max_size is not None:
        body["max_size"] = max_size
    box = _call(target.client(), "POST", f"{target.ucs_url}/boxes", 201, json=body)
    typer.echo(box["id"])


@app.command("share-box")
def share_box(box_id: str) -> None:
    """Make a box shared: every submitter of it sees and changes every upload in it."""
    target = _target()
    _call(target.client(), "PATCH", f"{target.ucs_url}/boxes/{box_id}", 200, json={"shared": True})
    typer.echo(f"{box_id} shared")


@app.command("unshare-box")
def unshare_box(box_id: str) -> None:
    """Make a box private again: each submitter sees and changes only their own uploads."""
    target = _target()
    body = {"shared": False}
    _call(target.client(), "PATCH", f"{target.ucs_url}/boxes/{box_id}", 200, json=body)
    typer.echo(f"{box_id} private")


@app.command("lock-box")
def lock_box(box_id: str) -> None:
    """Lock a box: no new uploads until it is unlocked."""
    target = _target()
    _call(target.client(), "PATCH", f"{target.ucs_url}/boxes/{box_id}", 200, json={"locked": True})
    typer.echo(f"{box_id} locked")


@app.command("unlock-box")
def unlock_box(box_id: str) -> None:
    """Unlock a box."""
    target = _target()
    _call(target.client(), "PATCH", f"{target.ucs_url}/boxes/{box_id}", 200, json={"locked": False})
    typer.echo(f"{box_id} unlocked")


@app.command("create-work-package")
def create_work_package(
    type: Annotated[str, typer.Option("--type", help="upload or download")],
    user_public_key: Annotated[
        Path, typer.Option("--user-public-key", help="The user's Crypt4GH public key file.")
    ],
    box: Annotated[str | None, typer.Option("--box", help="Upload box id (upload).")] = None,
    file_id: Annotated[
        list[str] | None, typer.Option("--file-id", help="File id (download); repeatable.")
    ] = None,
    days: Annotated[int | None, typer.Option(help="Lifetime in days.")] = None,
    user_id: Annotated[
        str | None,
        typer.Option(
            "--user-id",
            help="The user's id (default: derived from their public key, the same for "
            "every package of that key). In a private box, uploads belong to the user id.",
        ),
    ] = None,
) -> None:
    """Create a work package and print what the user pastes into the connector."""
    if type not in ("upload", "download"):
        raise AdminError("--type must be upload or download", 2)
    if type == "upload" and (not box or file_id):
        raise AdminError("an upload work package needs --box and no --file-id", 2)
    if type == "download" and (box or not file_id):
        raise AdminError("a download work package needs --file-id and no --box", 2)
    body: dict[str, Any] = {"type": type, "user_public_crypt4gh_key": _public_key(user_public_key)}
    if box:
        body["file_upload_box_id"] = box
    if file_id:
        body["file_ids"] = file_id
    if days:
        body["lifetime_days"] = days
    if user_id is not None:
        body["user_id"] = user_id
    target = _target()
    created = _call(target.client(), "POST", f"{target.wps_url}/work-packages", 201, json=body)
    typer.echo(f"{created['id']}:{created['token']}")


@app.command("revoke-work-package")
def revoke_work_package(package_id: str) -> None:
    """Revoke a work package at once: its access token and any further work order token
    are refused. Tokens already issued expire within their ~30 s. Asking again is safe."""
    target = _target()
    revoked = _call(target.client(), "DELETE", f"{target.wps_url}/work-packages/{package_id}", 200)
    if revoked["revoked_now"]:
        typer.echo(f"{revoked['id']} revoked")
    else:
        typer.echo(
            f"{revoked['id']} already revoked ({revoked['revoked']} by {revoked['revoked_by']})"
        )


def _all_uploads(target: Target, box_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    with target.client() as client:
        while True:
            page = _call(
                client,
                "GET",
                f"{target.ucs_url}/boxes/{box_id}/uploads",
                200,
                params={"skip": len(items), "limit": 100},
            )
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total_count"]:
                return items


@app.command("list-box")
def list_box(
    box_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the uploads of a box."""
    items = _all_uploads(_target(), box_id)
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    if not items:
        typer.echo("(no uploads)")
    for item in items:
        state = STATE_WORDS.get(item["state"], item["state"])
        reason = f"  ({item['state_reason']})" if item.get("state_reason") else ""
        typer.echo(
            f"{item['id']}  {state:<10}  {item['decrypted_size']:>14}  {item['alias']}{reason}"
        )


def _removed(deletion: dict[str, Any]) -> str:
    """What each holder said it removed, in one line."""
    return "; ".join(
        f"{service} removed {', '.join(removed) or 'nothing'}"
        for service, removed in deletion["confirmed"].items()
    )


def _deletion_word(deletion: dict[str, Any]) -> str:
    if deletion["status"] == "deleted":
        return "deleted"
    return f"deleting (waiting for {', '.join(deletion['awaited'])})"


@app.command("delete-file")
def delete_file(
    file_id: str,
    reason: Annotated[str | None, typer.Option(help="Why the file is deleted (kept).")] = None,
    wait: Annotated[
        float | None,
        typer.Option(min=0, help="Wait up to this many seconds until every holder confirmed."),
    ] = None,
) -> None:
    """Delete a file everywhere (uploads, interrogation, registry, downloads, its secret).

    Asking again is safe: it repeats the request until every service has confirmed.
    """
    target = _target()
    url = f"{target.ucs_url}/uploads/{file_id}"
    body = {} if reason is None else {"reason": reason}
    with target.client() as client:
        answer = _call(client, "DELETE", url, (200, 202), json=body)
        deletion = answer["deletion"]
        if deletion["status"] == "deleted":
            already = "" if answer["requested_now"] else "already "
            typer.echo(f"{file_id} {already}deleted: {_removed(deletion)}")
            return
        asked = (
            "requested"
            if answer["requested_now"]
            else f"was already requested ({deletion['requested']} by {deletion['requested_by']})"
            "; asked again"
        )
        typer.echo(f"deletion of {file_id} {asked}; waiting for {', '.join(deletion['awaited'])}")
        if wait is None:
            return
        deadline = time.monotonic() + wait
        while deletion["status"] != "deleted":
            if time.monotonic() >= deadline:
                raise AdminError(
                    f"{file_id} is not deleted after {wait:g} s; still waiting for "
                    f"{', '.join(deletion['awaited'])} (run delete-file again to ask again)",
                    3,
                )
            time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
            deletion = _call(client, "GET", url, 200)["deletion"]
        typer.echo(f"{file_id} deleted: {_removed(deletion)}")


@app.command("file-status")
def file_status(file_id: str) -> None:
    """Print a file's state (one word first), then its details."""
    target = _target()
    upload = _call(target.client(), "GET", f"{target.ucs_url}/uploads/{file_id}", 200)
    state = STATE_WORDS.get(upload["state"], upload["state"])
    reason = f": {upload['state_reason']}" if upload.get("state_reason") else ""
    deletion = upload.get("deletion")
    if deletion:
        typer.echo(_deletion_word(deletion))
        why = f" ({deletion['reason']})" if deletion.get("reason") else ""
        typer.echo(f"  requested: {deletion['requested']} by {deletion['requested_by']}{why}")
        for service, removed in deletion["confirmed"].items():
            typer.echo(f"  {service} removed: {', '.join(removed) or 'nothing'}")
        if deletion.get("deleted"):
            typer.echo(f"  deleted: {deletion['deleted']}")
        typer.echo(f"  upload: {state}{reason}")
    else:
        typer.echo(f"{state}{reason}")
    for name in ("alias", "box_id", "decrypted_size", "encrypted_size", "created", "updated"):
        if upload.get(name) is not None:
            typer.echo(f"  {name}: {upload[name]}")


def main() -> None:
    """Click reports usage errors itself (exit 2); ours become one line and their exit code."""
    try:
        app()
    except AdminError as error:
        typer.echo(f"fs-admin: {error}", err=True)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()

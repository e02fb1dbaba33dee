"""WPS over HTTP: translate requests into WorkPackageService calls and back."""

from __future__ import annotations

from functions.wps import wire
from functions.wps.inject import inject
from shared.http import ServiceApp, json_response

service = ServiceApp("wps")
app = service.chalice


@service.route("/work-packages", methods=["POST"])
def create_work_package():
    """Operator only: a new work package; the token comes back encrypted to the user."""
    wiring = inject()
    service.require_operator(wiring.cfg.operator_token_sha256)
    request = service.body(wire.CreateWorkPackage)
    created = wiring.packages.create(
        type=request.type,
        user_public_crypt4gh_key=request.user_public_crypt4gh_key,
        user_id=request.user_id,
        file_ids=request.file_ids,
        file_extensions=request.file_extensions,
        file_upload_box_id=request.file_upload_box_id,
        research_data_upload_box_id=request.research_data_upload_box_id,
        lifetime=request.lifetime(),
    )
    return json_response(wire.created_json(created), status=201)


@service.route("/work-packages/{package_id}", methods=["DELETE"])
def revoke_work_package(package_id: str):
    """Operator only: the package's access token is refused from now on (asking again is
    fine: 200, ``revoked_now`` false). WOTs already issued live out their ~30 s."""
    wiring = inject()
    service.require_operator(wiring.cfg.operator_token_sha256)
    return json_response(wire.revocation_json(wiring.packages.revoke(package_id)))


@service.route("/work-packages/{package_id}", methods=["GET"])
def get_work_package(package_id: str):
    package = inject().packages.authorize(package_id, service.bearer_token())
    return json_response(wire.package_json(package), headers={"Cache-Control": "private, no-store"})


@service.route("/work-packages/{package_id}/files/{file_id}/work-order-tokens", methods=["POST"])
def download_work_order_token(package_id: str, file_id: str):
    packages = inject().packages
    package = packages.authorize(package_id, service.bearer_token())
    return _token_response(packages.download_token(package, file_id))


@service.route("/work-packages/{package_id}/boxes/{box_id}/work-order-tokens", methods=["POST"])
def upload_work_order_token(package_id: str, box_id: str):
    packages = inject().packages
    package = packages.authorize(package_id, service.bearer_token())
    request = service.body(wire.UploadTokenRequest)
    token = packages.upload_token(
        package, box_id, request.work_type, request.alias, request.file_id
    )
    return _token_response(token)


def _token_response(sealed: str):
    # a WOT lives ~30 s; caches may keep it only briefly and only for this user
    return json_response(sealed, status=201, headers={"Cache-Control": "private, max-age=5"})

"""WKVS over real HTTP."""

from __future__ import annotations

import httpx

from shared.crypt.keys import decode_key


def test_values_name_every_api_and_the_archive_key(endpoints: dict) -> None:
    response = httpx.get(f"{endpoints['wkvs_url']}/values")
    assert response.status_code == 200
    values = response.json()
    assert values["wps_api_url"] == endpoints["wps_url"]
    assert values["ucs_api_url"] == endpoints["ucs_url"]
    assert values["dcs_api_url"] == endpoints["dcs_url"]
    keys = values["crypt4gh_public_keys"]
    assert keys == {endpoints["storage_alias"]: endpoints["archive_public_key"]}
    assert len(decode_key(keys[endpoints["storage_alias"]])) == 32


def test_single_value_and_unknown_value(endpoints: dict) -> None:
    one = httpx.get(f"{endpoints['wkvs_url']}/values/dcs_api_url")
    assert one.status_code == 200 and one.json() == {"dcs_api_url": endpoints["dcs_url"]}
    unknown = httpx.get(f"{endpoints['wkvs_url']}/values/nothing")
    assert unknown.status_code == 404
    assert unknown.json()["exception_id"] == "valueNotFound"


def test_every_api_answers_health(endpoints: dict) -> None:
    for name in ("wkvs", "wps", "ucs", "dcs", "ekss"):
        response = httpx.get(f"{endpoints['api_url']}/{name}/health")
        assert response.status_code == 200 and response.json()["status"].lower() == "ok"


def test_unknown_routes_and_methods_get_json_errors(endpoints: dict) -> None:
    cases = [
        ("GET", f"{endpoints['api_url']}/nothing/here", 404),
        ("GET", f"{endpoints['wkvs_url']}/no/such/route", 404),
        ("DELETE", f"{endpoints['wkvs_url']}/values", 405),
    ]
    for method, url, status in cases:
        response = httpx.request(method, url)
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"exception_id", "description", "data"}

from __future__ import annotations

import pytest
import yaml

import fulfil

pytestmark = pytest.mark.django_db


@pytest.mark.quickstart
@pytest.mark.parametrize("path", ["/api/v1/hello", "/api/v1/hello/"])
def test_health_needs_no_auth_and_reports_database_broker_version_and_the_outbox(anon, path):
    response = anon.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "version": fulfil.__version__,
        "outbox_pending": 0,
        "outbox_oldest_age_seconds": None,
    }


def test_health_is_503_when_the_broker_is_down(anon, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = anon.get("/api/v1/hello")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"] == "unreachable"
    assert response.json()["database"] == "ok"


@pytest.mark.quickstart
def test_openapi_schema_renders_and_lists_the_product_paths(anon):
    response = anon.get("/api/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["info"]["title"] == "FulFil API"
    assert "/api/v1/products" in schema["paths"]
    assert "/api/v1/products/{id}" in schema["paths"]
    assert set(schema["paths"]["/api/v1/products"]) == {"get", "post"}


@pytest.mark.parametrize("path, marker", [("/api/docs", b"swagger-ui"), ("/api/redoc/", b"redoc")])
def test_docs_pages_load_their_assets_from_our_own_static_files(anon, path, marker):
    response = anon.get(path)
    assert response.status_code == 200
    assert marker in response.content.lower()
    assert b"cdn.jsdelivr" not in response.content and b"unpkg.com" not in response.content
    assert b"/static/drf_spectacular_sidecar/" in response.content


def test_the_api_root_links_to_the_resources_for_a_signed_in_user(api, anon):
    body = api.get("/api/v1/").json()
    assert set(body) == {"products", "webhooks", "imports"}
    assert body["products"].endswith("/api/v1/products")
    assert anon.get("/api/v1/").status_code == 401

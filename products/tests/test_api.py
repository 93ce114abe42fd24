from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db.models.lookups import IContains
from django.urls import reverse
from django.utils import timezone
from rest_framework import status

from fulfil.pagination import Counted
from products import services
from products.models import Product
from products.selectors import SEARCHED_FIELDS, product_field_contains, product_search

pytestmark = pytest.mark.django_db

LIST = "/api/v1/products"


def detail(product) -> str:
    return f"{LIST}/{product.pk}"


def make(sku: str, name: str = "Name", **extra) -> Product:
    return services.product_create(sku=sku, name=name, **extra)


# --- CRUD -------------------------------------------------------------------------------


@pytest.mark.quickstart
def test_create_answers_201_with_the_product(api):
    response = api.post(LIST, {"sku": "SKU-1", "name": "First", "description": "d"}, format="json")
    assert response.status_code == status.HTTP_201_CREATED
    body = response.json()
    assert body["sku"] == "SKU-1" and body["name"] == "First" and body["active"] is True
    assert set(body) == {"id", "sku", "name", "description", "active", "created_at", "updated_at"}
    assert Product.objects.get(pk=body["id"]).description == "d"


@pytest.mark.parametrize("path", [LIST, LIST + "/"])
def test_paths_work_with_and_without_trailing_slash(api, path):
    assert api.post(path, {"sku": f"s{len(path)}", "name": "n"}, format="json").status_code == 201
    assert api.get(path).status_code == 200


def test_detail_paths_work_with_and_without_trailing_slash(api):
    product = make("slash")
    for path in (detail(product), detail(product) + "/"):
        assert api.get(path).json()["sku"] == "slash"
    assert api.patch(detail(product) + "/", {"name": "p"}, format="json").status_code == 200
    assert api.delete(detail(product)).status_code == 204


def test_retrieve_update_patch_delete(api):
    product = make("crud", "Before")
    assert api.get(detail(product)).json()["name"] == "Before"

    response = api.put(detail(product), {"sku": "crud", "name": "After", "active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["active"] is False

    response = api.patch(detail(product), {"description": "new"}, format="json")
    assert response.json()["description"] == "new" and response.json()["name"] == "After"

    assert api.delete(detail(product)).status_code == status.HTTP_204_NO_CONTENT
    assert api.get(detail(product)).status_code == status.HTTP_404_NOT_FOUND


@pytest.mark.parametrize("encoding", ["json", "multipart", "form"])
def test_a_product_created_without_active_is_active_in_every_encoding(api, encoding):
    body = {"sku": f"ACT-{encoding}", "name": "n"}
    if encoding == "form":
        response = api.post(LIST, urlencode(body), content_type="application/x-www-form-urlencoded")
    else:
        response = api.post(LIST, body, format=encoding)
    assert response.status_code == 201, response.content
    assert response.json()["active"] is True and Product.objects.get().active is True


def test_a_form_patch_or_put_without_active_leaves_it_and_with_it_sets_it(api):
    product = make("FORM-1", active=False)
    form = "application/x-www-form-urlencoded"
    assert api.patch(detail(product), "name=Renamed", content_type=form).json()["active"] is False
    assert api.put(detail(product), "sku=FORM-1&name=Again", content_type=form).json()["active"] is False
    assert api.patch(detail(product), "active=true", content_type=form).json()["active"] is True
    assert api.patch(detail(product), "active=false", content_type=form).json()["active"] is False


def test_a_new_product_is_never_updated_before_it_was_created(api):
    body = api.post(LIST, {"sku": "NEW-1", "name": "n"}, format="json").json()
    assert body["created_at"] == body["updated_at"]
    product = Product.objects.get()
    assert product.created_at == product.updated_at


def test_put_without_required_fields_is_a_400_by_field(api):
    product = make("put")
    response = api.put(detail(product), {"description": "only"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"sku", "name"}


@pytest.mark.parametrize("bad_id", [uuid.uuid4(), "not-a-uuid", "123"])
def test_unknown_or_malformed_id_is_a_json_404(api, bad_id):
    response = api.get(f"{LIST}/{bad_id}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# --- Validation and conflicts -------------------------------------------------------------


@pytest.mark.quickstart
def test_duplicate_sku_ignoring_case_is_a_409_with_a_clear_message(api):
    existing = make("WIDGET-1")
    response = api.post(LIST, {"sku": "widget-1", "name": "Dup"}, format="json")
    assert response.status_code == status.HTTP_409_CONFLICT
    body = response.json()
    assert body["code"] == "duplicate_sku"
    assert "WIDGET-1" in body["detail"] and "ignoring case" in body["detail"]
    assert body["existing_id"] == str(existing.pk)
    assert Product.objects.count() == 1


def test_renaming_a_sku_onto_another_is_a_409(api):
    make("taken")
    other = make("free")
    response = api.patch(detail(other), {"sku": "TAKEN"}, format="json")
    assert response.status_code == 409


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "no sku"}, "sku"),
        ({"sku": "   ", "name": "blank sku"}, "sku"),
        ({"sku": "x" * 101, "name": "long sku"}, "sku"),
        ({"sku": "ok"}, "name"),
        ({"sku": "ok", "name": "n" * 256}, "name"),
        ({"sku": "ok", "name": "n", "active": "maybe"}, "active"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(api, payload, field):
    response = api.post(LIST, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert isinstance(response.json()[field], list)


def test_malformed_json_is_a_400(api):
    response = api.post(LIST, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_unsupported_media_type_is_a_json_415(api):
    response = api.post(LIST, "<xml/>", content_type="application/xml")
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


def test_method_not_allowed_is_a_json_405(api):
    response = api.post(detail(make("m")), {}, format="json")
    assert response.status_code == 405
    assert response.json()["detail"] == 'Method "POST" not allowed.'


@pytest.mark.quickstart
def test_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_unhandled_error_is_a_json_500_without_a_traceback(api, monkeypatch):
    def explode():
        raise RuntimeError("secret internals")

    monkeypatch.setattr("products.api.product_list", explode)
    api.raise_request_exception = False
    response = api.get(LIST)
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    assert b"secret internals" not in response.content


# --- Filters, search, ordering, pagination -------------------------------------------------


@pytest.fixture
def catalogue(db):
    return {
        "red": make("RED-SHIRT-1", "Red shirt", description="cotton, long sleeves"),
        "blue": make("blue-shirt-2", "Blue Shirt", description="linen"),
        "mug": make("MUG-3", "Coffee mug", description="ceramic", active=False),
    }


def skus(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(item["sku"] for item in response.json()["results"])


@pytest.mark.parametrize(
    "query, expected",
    [
        ("sku=shirt", ["RED-SHIRT-1", "blue-shirt-2"]),
        ("name=SHIRT", ["RED-SHIRT-1", "blue-shirt-2"]),
        ("description=LIN", ["blue-shirt-2"]),
        ("sku_exact=red-shirt-1", ["RED-SHIRT-1"]),
        ("sku_exact=red-shirt", []),
        ("active=false", ["MUG-3"]),
        ("active=true", ["RED-SHIRT-1", "blue-shirt-2"]),
        ("search=ceramic", ["MUG-3"]),
        ("search=shirt cotton", ["RED-SHIRT-1"]),
        ("search=MUG", ["MUG-3"]),
        ("sku=shirt&active=true&name=blue", ["blue-shirt-2"]),
        ("name=linen", []),  # in the description, not the name
        ("sku=coffee", []),
        ("search=red-shirt-1 sleeves", ["RED-SHIRT-1"]),  # one word in the SKU, one in the description
        ('search="shirt\ncotton"', []),  # the end of one field and the start of the next are not one phrase
        ('search="Red shirt"', ["RED-SHIRT-1"]),
    ],
)
@pytest.mark.quickstart
def test_filters(api, catalogue, query, expected):
    assert skus(api.get(f"{LIST}?{query}")) == expected


def test_created_and_updated_after(api, catalogue):
    past = timezone.now() - timedelta(days=1)
    Product.objects.filter(sku="MUG-3").update(created_at=past, updated_at=past)
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert skus(api.get(LIST, {"created_after": since})) == ["RED-SHIRT-1", "blue-shirt-2"]
    assert skus(api.get(LIST, {"updated_after": since})) == ["RED-SHIRT-1", "blue-shirt-2"]


@pytest.mark.parametrize(
    "query, field",
    [("active=maybe", "active"), ("created_after=yesterday", "created_after"), ("ordering=price", "ordering")],
)
def test_bad_filter_values_are_a_400_naming_the_parameter(api, catalogue, query, field):
    response = api.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_ordering(api, catalogue):
    response = api.get(LIST, {"ordering": "sku"})
    assert [p["sku"] for p in response.json()["results"]] == ["MUG-3", "RED-SHIRT-1", "blue-shirt-2"]
    response = api.get(LIST, {"ordering": "-name"})
    assert [p["name"] for p in response.json()["results"]] == ["Red shirt", "Coffee mug", "Blue Shirt"]


def test_default_ordering_is_newest_first(api, catalogue):
    assert [p["sku"] for p in api.get(LIST).json()["results"]] == ["MUG-3", "blue-shirt-2", "RED-SHIRT-1"]


def test_products_created_together_are_listed_newest_first_then_by_sku_in_the_api_and_the_admin(api, staff_client):
    """An import's products share one creation time: among them the SKU decides, so pages are stable."""
    now, earlier = timezone.now(), timezone.now() - timedelta(hours=1)
    Product.objects.bulk_create(Product(sku=sku, name="n", created_at=earlier) for sku in ("old-b", "OLD-A"))
    Product.objects.bulk_create(Product(sku=sku, name="n", created_at=now) for sku in ("k-2", "Z-1", "a-9", "K-10"))
    expected = ["a-9", "K-10", "k-2", "Z-1", "OLD-A", "old-b"]
    assert [p["sku"] for p in api.get(LIST).json()["results"]] == expected
    admin_list = staff_client.get(reverse("admin:products_product_changelist")).context["cl"].result_list
    assert [p.sku for p in admin_list] == expected
    by_name = api.get(LIST, {"ordering": "name", "limit": 3}).json()["results"]
    assert [p["sku"] for p in by_name] == expected[:3]  # equal names: the SKU breaks the tie


def test_the_first_page_of_the_list_is_read_in_order_from_an_index(api):
    """The default order is served by the (-created_at, sku_key) index, with no sort of the table
    (the planner is kept off sequential scans, which it prefers on a test-sized table)."""
    from django.db import connection, transaction

    queries = {
        "api": Product.objects.all()[:20],
        "admin": Product.objects.order_by("-created_at", "sku_key")[:50],
    }
    for name, queryset in queries.items():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            sql, params = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Index Scan using product_created_sku_idx" in plan and "Sort" not in plan, (name, plan)


def test_search_and_the_contains_filters_find_their_candidates_in_one_trigram_index(api):
    """Each search word and contains filter is a condition the index over SKU, name and
    description together (migration 0009) serves: the expression Django sends is the one indexed."""
    from django.db import connection, transaction

    products = Product.objects.all()
    queries = {
        "search": product_search(products=products, terms=["shirt", "cotton"]),
        **{field: product_field_contains(products=products, field=field, text="shirt") for field in SEARCHED_FIELDS},
    }
    for name, queryset in queries.items():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_indexscan = off")  # not the list order's index, whatever the stats
            sql, params = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Bitmap Index Scan on product_text_trgm_idx" in plan, (name, plan)
        assert plan.count("Index Scan") == 1, (name, plan)  # one scan, both search words in it


def test_a_contains_filter_is_estimated_as_its_indexed_condition_not_as_two_selective_ones():
    """The field check after the index's condition must not make the planner expect a handful of
    rows: a count that gives way to the estimate would say "about 1" of thousands."""
    from django.db import connection

    from fulfil.pagination import estimated_count
    from products.selectors import ProductText

    Product.objects.bulk_create(
        Product(sku=f"S-{n:05d}", name=f"Wool scarf {n}", description="Soft and warm.") for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")
    products = Product.objects.all()
    indexed = estimated_count(products.filter(IContains(ProductText(), "wool scarf")))
    assert indexed is not None and indexed > 3
    for field in SEARCHED_FIELDS:
        estimate = estimated_count(product_field_contains(products=products, field=field, text="wool scarf"))
        assert estimate is not None and estimate * 4 >= indexed, (field, estimate, indexed)


def test_pagination_shape_default_limit_and_bounds(api):
    Product.objects.bulk_create(Product(sku=f"p-{i:04d}", name="n") for i in range(1005))
    body = api.get(LIST).json()
    assert set(body) == {"count", "count_is_exact", "next", "previous", "results"}
    assert body["count"] == 1005 and len(body["results"]) == 20 and body["previous"] is None
    assert "limit=20" in body["next"] and "offset=20" in body["next"]

    assert len(api.get(LIST, {"limit": 5000}).json()["results"]) == 1000  # capped at the maximum
    page = api.get(LIST, {"limit": 10, "offset": 1000}).json()
    assert len(page["results"]) == 5 and page["next"] is None
    assert api.get(LIST, {"offset": 99999}).json()["results"] == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=-5", "limit=abc", "offset=-1", "offset=x", "offset=100000000000000000000"]
)
def test_nonsense_paging_values_are_a_400(api, query):
    response = api.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_list_runs_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    Product.objects.bulk_create(Product(sku=f"q-{i}", name="n") for i in range(50))
    with django_assert_max_num_queries(4):  # token auth, count, page
        assert api.get(LIST, {"limit": 50}).status_code == 200


# --- Authentication and permissions ---------------------------------------------------------


@pytest.mark.quickstart
def test_anonymous_requests_are_refused_with_401(anon):
    assert anon.get(LIST).status_code == status.HTTP_401_UNAUTHORIZED
    assert anon.post(LIST, {"sku": "a", "name": "b"}, format="json").status_code == 401


def test_invalid_token_is_a_401(anon):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anon.get(LIST).status_code == 401


def test_user_without_permissions_gets_403(client_for):
    client = client_for()
    assert client.get(LIST).status_code == status.HTTP_403_FORBIDDEN


def test_read_only_permission_reads_but_cannot_write(client_for, catalogue):
    client = client_for("products.view_product")
    assert client.get(LIST).status_code == 200
    assert client.get(detail(catalogue["mug"])).status_code == 200
    assert client.post(LIST, {"sku": "n", "name": "n"}, format="json").status_code == 403
    assert client.patch(detail(catalogue["mug"]), {"name": "x"}, format="json").status_code == 403
    assert client.delete(detail(catalogue["mug"])).status_code == 403


def test_read_only_group_from_the_admin_grants_reads(make_user, read_only_group, catalogue):
    from rest_framework.test import APIClient

    user = make_user("reader")
    user.groups.add(read_only_group)
    client = APIClient()
    client.force_authenticate(user)
    assert client.get(LIST).status_code == 200
    assert client.delete(detail(catalogue["red"])).status_code == 403


def test_each_write_needs_its_own_permission(client_for, catalogue):
    client = client_for("products.view_product", "products.add_product")
    assert client.post(LIST, {"sku": "new", "name": "n"}, format="json").status_code == 201
    assert client.delete(detail(catalogue["red"])).status_code == 403


def test_session_authentication_works_for_the_browsable_api(client, admin_user):
    client.force_login(admin_user)
    response = client.get(LIST, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Product List" in response.content


# --- Export ------------------------------------------------------------------------------------


def _export(client, query: str = "") -> tuple[object, list[list[str]]]:
    response = client.get(f"/api/v1/products/export{query}")
    body = b"".join(response.streaming_content).decode() if response.status_code == 200 else ""
    return response, list(csv.reader(io.StringIO(body)))


def test_export_streams_the_catalogue_as_the_importer_reads_it(api):
    services.product_create(sku="A-1", name="Mug, large", description='Line one\nsays "hi"\nÄ ñ 漢', active=False)
    services.product_create(sku="=B", name="Shirt")
    response, rows = _export(api)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="products-')
    assert rows[0] == ["sku", "name", "description", "active"]
    assert sorted(rows[1:]) == [
        ["=B", "Shirt", "", "true"],
        ["A-1", "Mug, large", 'Line one\nsays "hi"\nÄ ñ 漢', "false"],
    ]


def test_export_takes_the_list_filters_and_excel_safe(api):
    services.product_create(sku="=B", name="Shirt")
    services.product_create(sku="C-1", name="Cup", active=False)
    _, rows = _export(api, "?active=true&excel_safe=1")
    assert rows[1:] == [["'=B", "Shirt", "", "true"]]
    _, rows = _export(api, "?search=cup")
    assert [row[0] for row in rows[1:]] == ["C-1"]
    assert _export(api, "?excel_safe=perhaps")[0].status_code == 400
    assert _export(api, "?ordering=price")[0].status_code == 400


def test_export_needs_the_view_permission(client_for, anon):
    assert client_for("products.add_product").get("/api/v1/products/export").status_code == 403
    assert client_for("products.view_product", username="viewer").get("/api/v1/products/export").status_code == 200
    assert anon.get("/api/v1/products/export").status_code == 401


def test_an_exported_catalogue_imports_back_unchanged(api, tmp_path):
    from imports.run import import_job_run
    from imports.services import import_job_create_from_path

    for i, (name, description) in enumerate(
        [("Mug, large", 'Line one\nsays "hi"'), ("Ünïcödé 漢字", "tab\tin it, and ; semicolon"), ("Plain", "")]
    ):
        services.product_create(sku=f"RT-{i}", name=name, description=description, active=i % 2 == 0)
    _, rows = _export(api)
    path = tmp_path / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    job = import_job_run(job=import_job_create_from_path(path=path))
    assert (job.status, job.created_count, job.updated_count, job.unchanged_count, job.error_count) == (
        "SUCCESS", 0, 0, 3, 0
    )  # fmt: skip


# --- Counting and paging large lists -----------------------------------------------------------


def test_a_large_list_answers_an_estimated_count_and_counts_exactly_on_request(api, monkeypatch):
    Product.objects.bulk_create(Product(sku=f"E-{i}", name="n") for i in range(30))
    body = api.get("/api/v1/products").json()
    assert (body["count"], body["count_is_exact"]) == (30, True)
    monkeypatch.setattr("fulfil.pagination.estimated_count", lambda queryset: 2_500_000)
    body = api.get("/api/v1/products?limit=10").json()
    assert (body["count"], body["count_is_exact"], len(body["results"])) == (2_500_000, False, 10)
    assert "offset=10" in body["next"]
    body = api.get("/api/v1/products?count=exact&limit=10").json()
    assert (body["count"], body["count_is_exact"]) == (30, True)
    assert api.get("/api/v1/products?count=roughly").status_code == 400
    # The browsable API says so too.
    page = api.get("/api/v1/products?limit=10", HTTP_ACCEPT="text/html").content.decode()
    assert '<p id="list-count" class="text-muted">About 2500000 results (an estimate;' in page
    page = api.get("/api/v1/products?limit=10&count=exact", HTTP_ACCEPT="text/html").content.decode()
    assert '<p id="list-count" class="text-muted">30 results</p>' in page


def test_an_estimated_count_neither_ends_the_list_early_nor_empties_it(api, monkeypatch):
    Product.objects.bulk_create(Product(sku=f"E-{i:02d}", name="n") for i in range(30))
    monkeypatch.setattr("fulfil.pagination.quick_count", lambda queryset, *page: Counted(3, False))  # far too low
    body = api.get(f"{LIST}?offset=10&limit=10&ordering=sku").json()
    assert [p["sku"] for p in body["results"]] == [f"E-{i:02d}" for i in range(10, 20)]
    assert "offset=20" in body["next"] and body["count_is_exact"] is False
    assert body["count"] == 20  # not "about 3" below twenty rows shown
    body = api.get(f"{LIST}?offset=25&limit=10").json()  # a short page: the list ends there
    assert (body["count"], body["count_is_exact"], len(body["results"]), body["next"]) == (30, True, 5, None)
    body = api.get(f"{LIST}?offset=1000&limit=10").json()  # past the end: proves nothing about the count
    assert (body["count"], body["count_is_exact"], body["results"]) == (3, False, [])


def _reads_matches_first(queries) -> bool:
    return any("enable_indexscan" in query["sql"] for query in queries)


@pytest.mark.parametrize("paging", ["", "&cursor="])
def test_a_search_matching_few_products_is_read_matches_first_and_one_matching_many_is_not(api, paging):
    """The planner assumes a substring matches at least 1 row in 10,000, so for a rare word it would
    walk the whole catalogue in list order; a search counted as rare is read by its matches."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Product.objects.bulk_create(Product(sku=f"P-{i:03d}", name=f"Plain {i}") for i in range(300))
    for i in range(3):
        services.product_create(sku=f"V-{i}", name=f"Vintage {i}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")
    with CaptureQueriesContext(connection) as rare:
        body = api.get(f"{LIST}?search=vintage&limit=2{paging}").json()
    assert [p["sku"] for p in body["results"]] == ["V-2", "V-1"] and body["next"]
    assert _reads_matches_first(rare.captured_queries)
    with CaptureQueriesContext(connection) as common:
        body = api.get(f"{LIST}?search=plain&limit=2{paging}").json()
    assert len(body["results"]) == 2 and not _reads_matches_first(common.captured_queries)
    with connection.cursor() as cursor:  # the setting did not outlive the page
        cursor.execute("SHOW enable_indexscan")
        assert cursor.fetchone()[0] == "on"


def test_a_search_a_sample_finds_many_matches_for_is_not_counted_but_answers_the_samples_count(api, monkeypatch):
    """Counting the matches of two common words among ten million products takes seconds, and
    the planner cannot tell it from a rare word: a sample of the table tells them apart."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Product.objects.bulk_create(Product(sku=f"P-{i:03d}", name=f"Plain cotton {i}") for i in range(300))
    for i in range(3):
        services.product_create(sku=f"V-{i}", name=f"Vintage cotton {i}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")
    # A "large" table, all of it in the sample, whose count is then the true one.
    monkeypatch.setattr("fulfil.pagination.SAMPLE_TABLES_ABOVE", 100)
    monkeypatch.setattr("fulfil.pagination.SAMPLE_ROWS", 1000)
    with CaptureQueriesContext(connection) as many:
        body = api.get(f"{LIST}?search=plain+cotton&limit=2").json()
    assert (body["count"], body["count_is_exact"], len(body["results"])) == (300, False, 2)
    assert any("TABLESAMPLE" in query["sql"] for query in many.captured_queries)
    assert not any('"__count"' in query["sql"] for query in many.captured_queries), "counted all the same"
    assert not _reads_matches_first(many.captured_queries)
    # Few matches: counted and their page read in one query, matches first.
    with CaptureQueriesContext(connection) as few:
        body = api.get(f"{LIST}?search=vintage+cotton&limit=2&offset=1").json()
    assert (body["count"], body["count_is_exact"], [p["sku"] for p in body["results"]]) == (3, True, ["V-1", "V-0"])
    reads = [query["sql"] for query in few.captured_queries if query["sql"].startswith('SELECT "products_product"')]
    assert len(reads) == 1 and "OVER ()" in reads[0]
    assert _reads_matches_first(few.captured_queries)
    body = api.get(f"{LIST}?search=vintage+cotton&limit=2&offset=10").json()  # past the end: counted apart
    assert (body["count"], body["count_is_exact"], body["results"]) == (3, True, [])
    body = api.get(f"{LIST}?search=plain+cotton&limit=2&count=exact").json()
    assert (body["count"], body["count_is_exact"]) == (300, True)
    page = api.get(f"{LIST}?search=cotton&limit=2", HTTP_ACCEPT="text/html").content.decode()
    assert '<p id="list-count" class="text-muted">About 303 results (an estimate;' in page


@pytest.mark.parametrize("ordering", ["", "&ordering=sku", "&ordering=-updated_at"])
def test_keyset_pages_walk_the_whole_list_once_in_order(api, ordering):
    products = [services.product_create(sku=f"K-{i:03}", name="n") for i in range(45)]
    Product.objects.filter(pk__in=[p.pk for p in products[:20]]).update(created_at=products[0].created_at)  # ties
    url, seen = f"/api/v1/products?cursor=&limit=10{ordering}", []
    while url:
        body = api.get(url).json()
        assert "count" not in body
        seen += [item["sku"] for item in body["results"]]
        url = body["next"]
    assert sorted(seen) == [p.sku for p in products] and len(seen) == 45
    if ordering == "&ordering=sku":
        assert seen == sorted(seen)
    assert api.get("/api/v1/products?cursor=garbage").status_code == 404


def test_keyset_pages_list_products_created_together_by_sku_as_the_offset_pages_do(api):
    now = timezone.now()
    Product.objects.bulk_create(Product(sku=f"T-{i:02d}", name="n", created_at=now) for i in (7, 3, 11, 1, 9))
    offset = [item["sku"] for item in api.get(LIST).json()["results"]]
    keyset = [item["sku"] for item in api.get(f"{LIST}?cursor=&limit=3").json()["results"]]
    assert offset == ["T-01", "T-03", "T-07", "T-09", "T-11"] and keyset == offset[:3]

"""Floods: throttled writes, uploads, test sends and anonymous callers (429 with Retry-After), the
admin sign-in lock-out, bounded search, and a statement timeout in the web process."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from fulfil.database import _set_statement_timeout, limit_statement_time
from products.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    """Throttle rates a test can lower; counts start from nothing."""
    cache.clear()
    settings.API_THROTTLE_RATES = dict(settings.API_THROTTLE_RATES)
    yield settings.API_THROTTLE_RATES
    cache.clear()


def test_writes_past_the_rate_get_429_with_retry_after_and_reads_go_on(api, rates):
    rates["write"] = "3/min"
    for number in range(3):
        assert api.post("/api/v1/products", {"sku": f"T-{number}", "name": "n"}).status_code == 201
    response = api.post("/api/v1/products", {"sku": "T-3", "name": "n"})
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"].lower()
    assert api.get("/api/v1/products").status_code == 200


def test_uploads_and_webhook_test_sends_have_rates_of_their_own(api, rates, receiver, settings):
    rates["upload"] = "1/hour"
    rates["webhook_test"] = "2/min"

    def upload():
        csv = SimpleUploadedFile("p.csv", b"sku,name\nU-1,n\n", content_type="text/csv")
        return api.post("/api/v1/products/upload", {"file": csv}, format="multipart")

    assert upload().status_code == 202
    refused = upload()
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 60
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook = api.post("/api/v1/webhooks", {"url": receiver.url(), "events": ["product.created"]}).json()
    assert [api.post(f"/api/v1/webhooks/{webhook['id']}/test", {}).status_code for _ in range(3)] == [200, 200, 429]
    assert len(receiver.requests) == 2
    assert api.post("/api/v1/products", {"sku": "STILL", "name": "n"}).status_code == 201  # writes have their own


def test_anonymous_callers_are_counted_per_address(anon, rates):
    rates["anon"] = "2/min"
    assert [anon.get("/api/v1/hello", REMOTE_ADDR="198.51.100.7").status_code for _ in range(3)] == [200, 200, 429]
    assert anon.get("/api/v1/hello", REMOTE_ADDR="198.51.100.8").status_code == 200
    # Without a proxy in front, X-Forwarded-For is the caller's to invent: it is not used.
    spoofed = anon.get("/api/v1/hello", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert spoofed.status_code == 429


def test_an_unreachable_cache_lets_requests_through(api, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "write": "1/min"}
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    statuses = [api.post("/api/v1/products", {"sku": f"C-{n}", "name": "n"}).status_code for n in range(3)]
    assert statuses == [201, 201, 201]


# --- Admin sign-in ----------------------------------------------------------------------


def sign_in(client, username: str, password: str, address: str):
    return client.post("/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_repeated_failed_sign_ins_from_one_address_lock_it_out(client, admin_user, make_user, settings):
    make_user("other", staff=True)
    statuses = [
        sign_in(client, "nobody", "wrong", "192.0.2.10").status_code for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the form again, then locked
    locked = sign_in(client, "admin", "pw-for-tests-only", "192.0.2.10")  # even the right password
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content
    assert sign_in(client, "admin", "pw-for-tests-only", "192.0.2.11").status_code == 302  # another address


def test_repeated_failed_sign_ins_for_one_username_lock_it_out_from_any_address(client, admin_user, make_user):
    make_user("other", staff=True)
    for number in range(5):
        sign_in(client, "admin", "wrong", f"192.0.2.{20 + number}")
    assert sign_in(client, "admin", "pw-for-tests-only", "192.0.2.99").status_code == 429
    assert sign_in(client, "other", "pw-for-tests-only", "192.0.2.99").status_code == 302


# --- Search and slow queries --------------------------------------------------------------


@pytest.mark.parametrize(
    "search, status_code",
    [
        ("one two three four five six seven eight nine ten", 200),
        ("one two three four five six seven eight nine ten eleven", 400),
        ("a,b,c,d,e,f,g,h,i,j,k", 400),
        ("x" * 200, 200),
        ("x" * 201, 400),
    ],
)
def test_search_input_is_bounded(api, search, status_code):
    response = api.get("/api/v1/products", {"search": search})
    assert response.status_code == status_code, response.json()
    if status_code == 400:
        assert "search" in response.json()


@pytest.mark.django_db(transaction=True)
def test_a_query_past_the_statement_timeout_is_a_503_not_a_stuck_worker(api, settings, monkeypatch):
    from django.db.models.expressions import RawSQL

    Product.objects.create(sku="SLOW", name="slow")
    slow = Product.objects.annotate(nap=RawSQL("pg_sleep(2)", [])).filter(nap__isnull=False)
    monkeypatch.setattr("products.api.product_list", lambda: slow)
    settings.WEB_STATEMENT_TIMEOUT_MS = 200
    _set_statement_timeout(None, connection)
    try:
        response = api.get("/api/v1/products")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
    assert response.status_code == 503
    assert response.json()["code"] == "query_timeout"


@pytest.mark.django_db(transaction=True)
def test_the_web_process_sets_the_statement_timeout_on_every_new_connection(settings):
    from django.db.backends.signals import connection_created

    settings.WEB_STATEMENT_TIMEOUT_MS = 4321
    limit_statement_time()
    try:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "4321ms"
    finally:
        connection_created.disconnect(dispatch_uid="fulfil-statement-timeout")
        connection.close()


def _sleeping_products(seconds: float):
    """Products whose every row costs `seconds` to read: a count of them is slow on any machine."""
    from django.db.models.expressions import RawSQL

    return Product.objects.annotate(nap=RawSQL("pg_sleep(%s)", [seconds])).filter(nap__isnull=False)


@pytest.mark.django_db(transaction=True)
def test_a_list_too_slow_to_count_answers_the_estimate_in_time(api, settings, monkeypatch):
    """A search matching much of a large catalogue: counting it would take seconds (a 503 past
    WEB_STATEMENT_TIMEOUT_MS); the page answers with the planner's estimate instead."""
    from django.test.utils import CaptureQueriesContext

    Product.objects.create(sku="SLOW-1", name="slow")
    Product.objects.create(sku="SLOW-2", name="slow")
    monkeypatch.setattr("products.api.product_list", lambda: _sleeping_products(0.3))
    settings.EXACT_COUNT_TIMEOUT_MS = 50
    with CaptureQueriesContext(connection) as queries:
        body = api.get("/api/v1/products?limit=1").json()
    assert body["count_is_exact"] is False and [p["sku"] for p in body["results"]] == ["SLOW-2"]
    assert "offset=1" in body["next"]
    # The page too ran out of time the planner's way (as a rare word among many candidates does),
    # and was read matches first.
    assert any("enable_indexscan" in query["sql"] for query in queries.captured_queries)
    assert api.get("/api/v1/products?count=exact&limit=1").json()["count"] == 2  # asked for: counted, however long
    with connection.cursor() as cursor:  # the count's own limit did not outlive it
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
    settings.EXACT_COUNT_TIMEOUT_MS = 5000
    body = api.get("/api/v1/products?limit=1").json()
    assert (body["count"], body["count_is_exact"]) == (2, True)


def test_a_count_stopped_inside_a_transaction_leaves_the_transaction_and_its_timeout_as_they_were():
    from django.db import transaction

    from fulfil.database import count_within

    with transaction.atomic():
        kept = Product.objects.create(sku="KEPT", name="kept")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = '7s'")
        assert count_within(_sleeping_products(0.3), 50) is None
        assert count_within(_sleeping_products(0.01), 5000) == 1
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "7s"
        assert Product.objects.filter(pk=kept.pk).exists()

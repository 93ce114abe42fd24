from __future__ import annotations

import re

import pytest
from django.urls import reverse

from fulfil.pagination import Counted
from products import services
from products.models import Product

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:products_product_changelist")
ADD = reverse("admin:products_product_add")


@pytest.fixture
def products(db):
    return [
        services.product_create(sku="RED-1", name="Red shirt", description="cotton"),
        services.product_create(sku="BLUE-2", name="Blue shirt", description="linen"),
        services.product_create(sku="MUG-3", name="Mug", description="ceramic", active=False),
    ]


@pytest.mark.quickstart
def test_index_points_staff_to_products(staff_client):
    response = staff_client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert b"Start here" in response.content
    assert CHANGELIST.encode() in response.content


def test_index_hides_links_the_user_may_not_use(client, make_user):
    user = make_user("nobody", staff=True)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert CHANGELIST.encode() not in response.content


def test_staff_see_neither_task_results_nor_raw_tokens_and_superusers_do(make_user, staff_client):
    from django.test import Client

    client = Client()
    perms = ("products.view_product", "django_celery_results.view_taskresult", "authtoken.view_tokenproxy",
             "authtoken.add_tokenproxy", "imports.view_importjob")  # fmt: skip
    client.force_login(make_user("clerk", staff=True, perms=perms))
    page = client.get(reverse("admin:index")).content.decode()
    assert "Products" in page and ">Imports<" in page
    assert "model-taskresult" not in page and "model-tokenproxy" not in page and "Import jobs" not in page
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "model-taskresult" in page and "model-tokenproxy" in page


def test_labels_read_sku_and_url(staff_client, products):
    from webhooks.models import Webhook

    Webhook.objects.create(url="https://example.com/hook", events=["product.created"])
    assert ">SKU</a>" in staff_client.get(CHANGELIST).content.decode()
    assert ">URL</a>" in staff_client.get(reverse("admin:webhooks_webhook_changelist")).content.decode()


@pytest.mark.quickstart
def test_changelist_shows_sku_name_active_and_updated(staff_client, products):
    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    for header in ("column-sku", "column-name", "column-active", "column-updated_at"):
        assert header in content
    assert "RED-1" in content and "MUG-3" in content


@pytest.mark.parametrize(
    "term, expected",
    [
        ("red-1", {"RED-1"}),
        ("SHIRT", {"RED-1", "BLUE-2"}),
        ("ceram", {"MUG-3"}),
        ("shirt cotton", {"RED-1"}),
        ('"shirt\ncotton"', set()),  # the name's end and the description's start are not one phrase
    ],
)
@pytest.mark.quickstart
def test_search_by_sku_name_and_description(staff_client, products, term, expected):
    response = staff_client.get(CHANGELIST, {"q": term})
    assert {p.sku for p in response.context["cl"].result_list} == expected


def test_the_select_boxes_of_the_list_are_the_admins_own(staff_client, products):
    """Written without the widget template, each row's select box is still Django's HTML to the byte."""
    from django.contrib import admin
    from django.contrib.admin import ModelAdmin

    products.append(services.product_create(sku="<x>&\"'{}", name="A & B <b>{0}</b> &amp;"))
    page = staff_client.get(CHANGELIST).content.decode()
    model_admin = admin.site.get_model_admin(Product)
    for product in products:
        django_html = ModelAdmin.action_checkbox(model_admin, product)
        assert model_admin.action_checkbox(product) == django_html and django_html in page
    assert 'id="action-toggle"' in page


def test_filter_by_active(staff_client, products):
    response = staff_client.get(CHANGELIST, {"active__exact": "0"})
    assert [p.sku for p in response.context["cl"].result_list] == ["MUG-3"]


def test_deactivate_and_activate_actions_go_through_the_service(staff_client, products):
    ids = [str(p.pk) for p in products[:2]]
    response = staff_client.post(CHANGELIST, {"action": "deactivate", "_selected_action": ids}, follow=True)
    assert "2 products marked inactive." in response.content.decode()
    assert set(Product.objects.filter(active=False).values_list("sku", flat=True)) == {"RED-1", "BLUE-2", "MUG-3"}

    staff_client.post(CHANGELIST, {"action": "activate", "_selected_action": [str(products[2].pk)]})
    assert Product.objects.get(sku="MUG-3").active is True


def test_the_list_is_read_only_until_edit_in_list_is_chosen(staff_client, products):
    page = staff_client.get(CHANGELIST).content.decode()
    assert 'name="form-0-name"' not in page and 'id="edit-toggle"' in page and "Edit in list" in page
    page = staff_client.get(CHANGELIST, {"edit": "1", "active__exact": "1"}).content.decode()
    assert 'name="form-0-name"' in page and "Done editing" in page
    assert "active__exact=1&amp;edit=1&amp;o=" in page  # sorting keeps the mode (and the filter)


def test_a_save_without_edit_mode_changes_nothing(staff_client, products):
    product = Product.objects.get(sku="RED-1")
    data = {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "_save": "Save", "form-0-id": str(product.pk)}
    data["form-0-name"] = "Stray keystroke"
    staff_client.post(CHANGELIST, data)
    product.refresh_from_db()
    assert product.name == "Red shirt"


def test_inline_edit_on_the_list_saves_name_and_active(staff_client, products):
    ordered = list(Product.objects.all())  # the admin's order: newest first
    data = {
        "form-TOTAL_FORMS": str(len(ordered)),
        "form-INITIAL_FORMS": str(len(ordered)),
        "_save": "Save",
    }
    for i, product in enumerate(ordered):
        data[f"form-{i}-id"] = str(product.pk)
        data[f"form-{i}-name"] = product.name
        if product.active:
            data[f"form-{i}-active"] = "on"
    target = ordered.index(Product.objects.get(sku="RED-1"))
    data[f"form-{target}-name"] = "Crimson shirt"
    data.pop(f"form-{target}-active")
    response = staff_client.post(CHANGELIST + "?edit=1", data)
    assert response.status_code == 302 and response.url == CHANGELIST + "?edit=1"
    red = Product.objects.get(sku="RED-1")
    assert (red.name, red.active) == ("Crimson shirt", False)


def test_any_page_of_a_long_list_can_be_edited_in_place(staff_client):
    Product.objects.bulk_create(Product(sku=f"L-{i:03d}", name=f"Name {i}") for i in range(120))
    response = staff_client.get(CHANGELIST, {"edit": "1", "p": "2", "o": "1"})  # by SKU: L-050 .. L-099
    assert response.status_code == 200
    formset = response.context["cl"].formset
    assert [form.instance.sku for form in formset.forms] == [f"L-{i:03d}" for i in range(50, 100)]
    data = {"form-TOTAL_FORMS": "50", "form-INITIAL_FORMS": "50", "_save": "Save"}
    for i, form in enumerate(formset.forms):
        data |= {f"form-{i}-id": str(form.instance.pk), f"form-{i}-name": form.instance.name, f"form-{i}-active": "on"}
    data["form-3-name"] = "Renamed on page two"
    response = staff_client.post(CHANGELIST + "?edit=1&p=2&o=1", data)
    assert response.status_code == 302
    assert Product.objects.get(sku="L-053").name == "Renamed on page two"


def test_a_search_shows_where_the_description_matched(staff_client, products):
    description = "word " * 60 + "Portugal <b>cotton</b> " + "end " * 60
    services.product_create(sku="LONG-1", name="Tee", description=description)
    page = staff_client.get(CHANGELIST, {"q": "portugal"}).content.decode()
    assert "column-matched" in page
    snippet = re.search(r'<td class="field-matched">(.*?)</td>', page).group(1)
    assert snippet.startswith("…word word") and snippet.endswith("end end…") and len(snippet) < 200
    assert "word <mark>Portugal</mark> &lt;b&gt;cotton&lt;/b&gt; end" in snippet
    assert "column-matched" not in staff_client.get(CHANGELIST).content.decode()
    page = staff_client.get(CHANGELIST, {"q": "shirt"}).content.decode()  # matched in the name
    assert '<td class="field-matched">cotton</td>' in page


def test_add_form_creates_a_product(staff_client):
    response = staff_client.post(ADD, {"sku": " NEW-1 ", "name": "New", "description": "", "active": "on"})
    assert response.status_code == 302
    assert Product.objects.get().sku == "NEW-1"


def test_add_form_refuses_a_case_variant_sku_with_a_field_error(staff_client, products):
    response = staff_client.post(ADD, {"sku": "red-1", "name": "Dup", "active": "on"})
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors["sku"])
    assert Product.objects.count() == 3


def test_change_form_updates_through_the_service(staff_client, products):
    product = products[0]
    url = reverse("admin:products_product_change", args=[product.pk])
    response = staff_client.post(url, {"sku": "red-1", "name": "Red", "description": "cotton", "active": "on"})
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.sku, product.name) == ("red-1", "Red")


def test_delete_asks_for_confirmation_then_deletes(staff_client, products):
    url = reverse("admin:products_product_delete", args=[products[0].pk])
    assert b"Are you sure" in staff_client.get(url).content
    staff_client.post(url, {"post": "yes"})
    assert not Product.objects.filter(sku="RED-1").exists()


def test_large_unfiltered_list_shows_the_estimate_without_counting(staff_client, products, monkeypatch):
    Product.objects.bulk_create(Product(sku=f"more-{i}", name="n") for i in range(60))  # a full first page
    monkeypatch.setattr("fulfil.pagination.table_row_estimate", lambda model, using="default": 1_000_000)
    response = staff_client.get(CHANGELIST)
    assert response.context["cl"].result_count == 1_000_000
    assert '<span id="result-count">about 1000000 products</span>' in response.content.decode()
    filtered = staff_client.get(CHANGELIST, {"q": "shirt"})
    assert filtered.context["cl"].result_count == 2  # a short filtered list is counted exactly
    assert '<span id="result-count">2 products</span>' in filtered.content.decode()


def test_a_search_matching_few_products_is_read_matches_first(staff_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Product.objects.bulk_create(Product(sku=f"P-{i:03d}", name=f"Plain {i}") for i in range(300))
    Product.objects.bulk_create(Product(sku=f"V-{i:03d}", name=f"Vintage coat {i}") for i in range(101))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")
    with CaptureQueriesContext(connection) as queries:  # three pages of 50: a page is read
        response = staff_client.get(CHANGELIST, {"q": "vintage"})
    assert [p.sku for p in response.context["cl"].result_list] == [f"V-{i:03d}" for i in range(50)]
    assert any("enable_indexscan" in query["sql"] for query in queries.captured_queries)


@pytest.mark.parametrize("edit", ["", "1"])
def test_a_search_of_a_large_catalogue_reads_its_page_with_its_count_in_one_query(staff_client, monkeypatch, edit):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Product.objects.bulk_create(Product(sku=f"P-{i:03d}", name=f"Plain {i}") for i in range(300))
    Product.objects.bulk_create(Product(sku=f"V-{i:03d}", name=f"Vintage coat {i}") for i in range(70))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")
    monkeypatch.setattr("fulfil.pagination.SAMPLE_TABLES_ABOVE", 100)  # "large": sampled, all of it
    monkeypatch.setattr("fulfil.pagination.SAMPLE_ROWS", 1000)
    params = {"q": "vintage", "o": "1", "edit": edit}
    for page, skus, shown in (("1", range(50), "70 products"), ("2", range(50, 70), "70 products")):
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(CHANGELIST, {**params, "p": page})
        assert [p.sku for p in response.context["cl"].result_list] == [f"V-{i:03d}" for i in skus]
        assert f'<span id="result-count">{shown}</span>' in response.content.decode()
        reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "products_product"')]
        assert len(reads) == 1 and "OVER ()" in reads[0], reads
    with CaptureQueriesContext(connection) as queries:  # the whole list on one page: not read again
        response = staff_client.get(CHANGELIST, {**params, "q": "vintage coat 01"})
    skus = [f"V-{i:03d}" for i in range(70) if "01" in f"V-{i:03d}"]  # V-001 and V-010 to V-019
    assert [p.sku for p in response.context["cl"].result_list] == skus
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "products_product"')]
    assert len(reads) == 1, reads


def test_an_estimate_that_falls_short_still_pages_the_list_and_a_short_page_gives_the_true_count(
    staff_client, monkeypatch
):
    Product.objects.bulk_create(Product(sku=f"M-{i:03d}", name=f"Match {i}") for i in range(80))
    estimate = Counted(3, False)  # a search's
    monkeypatch.setattr("fulfil.pagination.quick_count", lambda queryset, *page: estimate)
    response = staff_client.get(CHANGELIST, {"q": "match"})
    assert len(response.context["cl"].result_list) == 50  # a page, not all 80
    assert '<span id="result-count">about 51 products</span>' in response.content.decode()
    last = staff_client.get(CHANGELIST, {"q": "match", "p": "2"})
    assert len(last.context["cl"].result_list) == 30 and last.context["cl"].result_count == 80
    assert '<span id="result-count">80 products</span>' in last.content.decode()
    one = staff_client.get(CHANGELIST, {"q": "match 007"})
    assert one.context["cl"].result_count == 1
    assert '<span id="result-count">1 product</span>' in one.content.decode()


def test_a_filtered_list_the_planner_expects_to_be_long_shows_the_estimate(staff_client, products, monkeypatch):
    Product.objects.bulk_create(Product(sku=f"more-{i}", name="n") for i in range(60))  # a full first page
    monkeypatch.setattr("fulfil.pagination.estimated_count", lambda queryset: 4_000_000)
    response = staff_client.get(CHANGELIST, {"active__exact": "1"})
    assert response.status_code == 200 and response.context["cl"].result_count == 4_000_000


def test_changelist_query_count_does_not_grow_with_rows(staff_client, django_assert_max_num_queries):
    Product.objects.bulk_create(Product(sku=f"bulk-{i}", name="n") for i in range(200))
    with django_assert_max_num_queries(12):
        assert staff_client.get(CHANGELIST).status_code == 200


def test_a_save_that_loses_a_race_for_the_sku_says_so_and_saves_nothing(staff_client, monkeypatch):
    """Another writer takes the SKU between the form's check and the insert: the database refuses it."""
    monkeypatch.setattr("products.admin.product_get_by_sku", lambda sku: None)  # the form saw it free
    services.product_create(sku="RACE-1", name="First")
    response = staff_client.post(ADD, {"sku": "race-1", "name": "Second", "active": "on"}, follow=True)
    assert "already exists" in response.content.decode()
    assert "was added successfully" not in response.content.decode()
    assert list(Product.objects.values_list("name", flat=True)) == ["First"]


def test_export_csv_exports_what_the_list_shows(staff_client):
    from products import services

    services.product_create(sku="A-1", name="Red mug")
    services.product_create(sku="B-1", name="Blue shirt", active=False)
    page = staff_client.get(reverse("admin:products_product_changelist") + "?active__exact=0").content.decode()
    assert 'id="export-link"' in page
    response = staff_client.get(reverse("admin:products_product_export") + "?active__exact=0")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(response.streaming_content).decode() == "sku,name,description,active\r\nB-1,Blue shirt,,false\r\n"
    response = staff_client.get(reverse("admin:products_product_export") + "?q=mug")
    assert b"".join(response.streaming_content).decode().splitlines()[1:] == ["A-1,Red mug,,true"]


def test_the_export_csv_command_writes_a_file_or_standard_output(tmp_path, capsys):
    import io

    from django.core.management import call_command

    from products import services

    services.product_create(sku="A-1", name="Red mug")
    services.product_create(sku="B-1", name="Blue shirt", active=False)
    out = io.StringIO()
    call_command("export_csv", str(tmp_path / "all.csv"), "--active", "false", stdout=out)
    assert "Exported 1 products" in out.getvalue()
    assert (tmp_path / "all.csv").read_text() == "sku,name,description,active\nB-1,Blue shirt,,false\n"
    call_command("export_csv")
    assert capsys.readouterr().out.count("\n") == 3

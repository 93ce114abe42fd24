from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext, ngettext

from fulfil.api import csv_download
from fulfil.errors import Conflict
from fulfil.jobs import background_job_status
from fulfil.pagination import EstimatedCountPaginator, PageFormSet
from products import services
from products.models import Product, ProductDeletion
from products.selectors import product_export, product_get_by_sku, product_search


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ("sku", "name", "description", "active")

    def clean_sku(self) -> str:
        sku = self.cleaned_data["sku"].strip()
        existing = product_get_by_sku(sku=sku)
        if existing and existing.pk != self.instance.pk:
            raise forms.ValidationError(
                f"A product with SKU “{existing.sku}” already exists (SKUs are unique ignoring case)."
            )
        return sku

    def validate_unique(self) -> None:
        """Uniqueness is checked by clean_sku and, against races, by the database."""


class DeleteAllForm(forms.Form):
    confirm = forms.CharField(
        label="Type DELETE (or the number of products) to confirm",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )

    def __init__(self, *args, count: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.count = count

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip()
        if value != "DELETE" and value.replace(",", "") != str(self.count):
            raise forms.ValidationError(f"Type DELETE or {self.count:,} exactly; nothing was deleted.")
        return value


EDIT_VAR = "edit"  # ?edit=1: the list in editing mode
SNIPPET_CHARS = 140


def search_terms(query: str) -> list[str]:
    """The words of an admin search, as the admin splits them (quoted phrases stay whole)."""
    terms = []
    for bit in smart_split(query):
        if bit[:1] in "\"'" and bit[-1:] == bit[:1] and len(bit) > 1:
            bit = unescape_string_literal(bit)
        if bit.strip():
            terms.append(bit)
    return terms


def search_snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> SafeString:
    """About `width` characters of `text` around the first of `terms` it contains (its start when
    none does), cut at spaces, every term marked: the list shows why a product matched."""
    pattern = re.compile("|".join(re.escape(term) for term in terms), re.IGNORECASE) if terms else None
    found = pattern.search(text) if pattern else None
    start = 0
    if found and found.end() > width:  # not in the opening: start a little before it
        start = max(0, min(found.start() - width // 3, len(text) - width))
        space = text.find(" ", start, found.start())
        start = space + 1 if space != -1 else start
    end = max(start + width, found.end() if found else 0)
    if end < len(text):
        space = text.rfind(" ", found.end() if found else start, end)
        end = space if space > start else end
    piece, html, at = text[start:end], [], 0
    for match in pattern.finditer(piece) if pattern else ():
        html += [escape(piece[at : match.start()]), format_html("<mark>{}</mark>", match.group())]
        at = match.end()
    html.append(escape(piece[at:]))
    return mark_safe(("…" if start else "") + "".join(html) + ("…" if end < len(text) else ""))  # noqa: S308 - escaped


class ProductChangeList(ChangeList):
    """The product list: read-only unless ?edit=1 asks for editing names and active flags in
    place, so a stray keystroke cannot change a product. The parameter stays in the list's links
    (pages, sorting, filters, search) until "Done editing"."""

    def __init__(self, request, *args, **kwargs) -> None:
        self.editing = request.GET.get(EDIT_VAR) == "1"
        super().__init__(request, *args, **kwargs)
        if not self.editing:
            self.list_editable = ()

    def get_results(self, request) -> None:
        super().get_results(request)
        if self.paginator.count != self.result_count:  # the page read showed an estimate's true count
            self.result_count = self.paginator.count
            self.multi_page = self.result_count > self.list_per_page
            self.can_show_all = self.result_count <= self.list_max_show_all
        if not self.multi_page and (rows := self.paginator.whole_list()) is not None:
            self.result_list = rows  # read with the count: not read again

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(EDIT_VAR, None)
        return lookup_params

    def edit_url(self) -> str:
        return self.get_query_string({EDIT_VAR: "1"})

    def view_url(self) -> str:
        return self.get_query_string(remove=[EDIT_VAR])


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductForm
    list_display = ("sku", "name", "active", "updated_at")
    list_display_links = ("sku",)
    list_editable = ("name", "active")
    list_filter = ("active", ("created_at", admin.DateFieldListFilter), ("updated_at", admin.DateFieldListFilter))
    search_fields = ("sku", "name", "description")
    search_help_text = "Search SKU, name and description (any part, any case)."
    readonly_fields = ("id", "created_at", "updated_at")
    fields = ("id", "sku", "name", "description", "active", "created_at", "updated_at")
    actions = ("activate", "deactivate")
    list_per_page = 50
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    change_list_template = "admin/products/product/change_list.html"

    def get_changelist(self, request, **kwargs):
        return ProductChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        if isinstance(paginator, EstimatedCountPaginator):
            paginator.shown_page = request.GET.get(PAGE_VAR, 1)  # counting may read it on the way
        return paginator

    def get_changelist_formset(self, request, **kwargs):
        return super().get_changelist_formset(request, formset=PageFormSet, **kwargs)

    def action_checkbox(self, obj: Product) -> SafeString:
        """The admin's select box of a row, the same HTML written directly: rendered through the
        form widget's template, the 50 boxes of a page were a third of the list's time."""
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        html = '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">'
        return format_html(html, ACTION_CHECKBOX_NAME, obj.pk, label)

    def get_list_display(self, request):
        """While searching, a description column shows where the words matched."""
        terms = search_terms(request.GET.get("q", ""))
        if not terms:
            return self.list_display

        @admin.display(description="description (where it matched)")
        def matched(product: Product) -> SafeString:
            return search_snippet(product.description, terms)

        return (*self.list_display, matched)

    def get_search_results(self, request, queryset, search_term):
        """The API's search (products.selectors.product_search), with the admin's way of splitting words."""
        return product_search(products=queryset, terms=search_terms(search_term)), False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = "products_product_delete_all"
        return [
            path("export/", wrap(self.export_view), name="products_product_export"),
            path("delete-all/", wrap(self.delete_all_view), name=name),
            path("delete-all/<int:pk>/", wrap(self.delete_all_progress_view), name=f"{name}_progress"),
            path("delete-all/<int:pk>/status/", wrap(self.delete_all_status_view), name=f"{name}_status"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The products the list shows with the current filters and search, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        products = self.get_changelist_instance(request).get_queryset(request)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return csv_download(product_export(products=products), f"products-{stamp}.csv")

    def delete_all_view(self, request):
        if not self.has_delete_permission(request):
            raise PermissionDenied
        count = Product.objects.count()
        form = DeleteAllForm(request.POST or None, count=count)
        if request.method == "POST" and form.is_valid():
            job = services.product_delete_all_start(user=request.user)
            return redirect("admin:products_product_delete_all_progress", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete all products",
            "opts": self.model._meta,
            "count": count,
            "count_display": f"{count:,}",
            "form": form,
            "running": ProductDeletion.objects.exclude(status__in=ProductDeletion.FINISHED).first(),
        }
        return TemplateResponse(request, "admin/products/product/delete_all.html", context)

    def delete_all_progress_view(self, request, pk: int):
        if not self.has_delete_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ProductDeletion, pk=pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Deleting all products",
            "opts": self.model._meta,
            "job": job,
            "status": background_job_status(job, request=request),
            "status_url": reverse("admin:products_product_delete_all_status", args=[job.pk]),
        }
        return TemplateResponse(request, "admin/products/product/delete_all_progress.html", context)

    def delete_all_status_view(self, request, pk: int):
        if not self.has_delete_permission(request):
            raise PermissionDenied
        return JsonResponse(background_job_status(get_object_or_404(ProductDeletion, pk=pk), request=request))

    def save_model(self, request, obj, form, change):
        values = {field: form.cleaned_data[field] for field in form.changed_data if field in services.EDITABLE_FIELDS}
        if change:
            services.product_update(product=Product.objects.get(pk=obj.pk), **values)
        else:
            obj.pk = services.product_create(**{f: form.cleaned_data[f] for f in ProductForm.Meta.fields}).pk

    def changeform_view(self, request, *args, **kwargs):
        return self._unless_conflict(request, super().changeform_view, *args, **kwargs)

    def changelist_view(self, request, *args, **kwargs):
        return self._unless_conflict(request, super().changelist_view, *args, **kwargs)

    def _unless_conflict(self, request, view, *args, **kwargs):
        """A save that lost a race with another writer after its form was validated (the database
        refused the SKU): the admin's transaction rolls back and the page says why."""
        try:
            return view(request, *args, **kwargs)
        except Conflict as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
            return redirect(request.get_full_path())

    def delete_model(self, request, obj):
        services.product_delete(product=obj)

    def delete_queryset(self, request, queryset):
        for product in queryset:
            services.product_delete(product=product)

    @admin.action(description="Activate selected products", permissions=["change"])
    def activate(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate selected products", permissions=["change"])
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)

    def _set_active(self, request, queryset, active: bool) -> None:
        changed = services.product_set_active(products=queryset, active=active)
        state = "active" if active else "inactive"
        self.message_user(
            request,
            ngettext("%(count)d product marked %(state)s.", "%(count)d products marked %(state)s.", changed)
            % {"count": changed, "state": state},
            messages.SUCCESS,
        )

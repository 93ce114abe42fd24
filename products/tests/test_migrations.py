from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

PER_COLUMN = {"product_sku_trgm_idx", "product_name_trgm_idx", "product_description_trgm_idx"}


def migrate(target: str) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("products", target)])


def trigram_indexes() -> dict[str, bool]:
    """The products table's trigram indexes, each with whether PostgreSQL may use it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, x.indisvalid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
            " WHERE x.indrelid = 'products_product'::regclass AND pg_get_indexdef(x.indexrelid) LIKE '%%gin_trgm_ops%%'"
        )
        return dict(cursor.fetchall())


def test_one_trigram_index_replaces_three_even_after_an_interrupted_build():
    """A CREATE INDEX CONCURRENTLY that was interrupted leaves an invalid index of the same name;
    migrating again must build it, not skip it and then drop the three that still work."""
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("products")[0][1]
    try:
        migrate("0008_list_order_newest_then_sku")
        assert trigram_indexes() == dict.fromkeys(PER_COLUMN, True)
        with connection.cursor() as cursor:  # what an interrupted build leaves behind
            cursor.execute("CREATE INDEX product_text_trgm_idx ON products_product (sku)")
            cursor.execute(
                "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'product_text_trgm_idx'::regclass"
            )
        migrate("0009_one_trigram_index")
        assert trigram_indexes() == {"product_text_trgm_idx": True}
    finally:
        migrate(latest)

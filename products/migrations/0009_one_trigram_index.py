"""One trigram index over a product's SKU, name and description together, in place of one per column.

It indexes exactly what products.selectors.ProductText compiles to inside Django's `icontains`:
the three fields one per line, upper-cased. A search of two words is then one index scan that
intersects both words' trigrams, instead of six scans combined; the contains filters find their
candidates here and check the one field. An import maintains one GIN index instead of three.

Built and dropped CONCURRENTLY, so writes go on while a large catalogue is indexed (the
migration is therefore not atomic); the new index is in place before the old ones go.
PostgreSQL only: on SQLite this migration does nothing.
"""

from django.db import migrations

from fulfil.database import PostgresOnlySQL

TEXT_INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS product_text_trgm_idx ON products_product USING gin "
    "((UPPER((sku::text || CHR(10) || name::text || CHR(10) || description::text))) gin_trgm_ops)"
)
COLUMNS = ("sku", "name", "description")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("products", "0008_list_order_newest_then_sku")]

    operations = [
        PostgresOnlySQL(TEXT_INDEX, "DROP INDEX CONCURRENTLY IF EXISTS product_text_trgm_idx"),
        *(
            PostgresOnlySQL(
                f"DROP INDEX CONCURRENTLY IF EXISTS product_{column}_trgm_idx",
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS product_{column}_trgm_idx ON products_product "
                f"USING gin ((UPPER({column}::text)) gin_trgm_ops)",
            )
            for column in COLUMNS
        ),
    ]

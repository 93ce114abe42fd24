"""One trigram index over a product's SKU, name and description together, in place of one per column.

It indexes exactly what products.selectors.ProductText compiles to inside Django's `icontains`:
the three fields one per line, upper-cased. A search of two words is then one index scan that
intersects both words' trigrams, instead of six scans combined; the contains filters find their
candidates here and check the one field. An import maintains one GIN index instead of three.

Built and dropped CONCURRENTLY, so writes go on while a large catalogue is indexed (the
migration is therefore not atomic); the new index is in place before the old ones go. A build
that was interrupted leaves an invalid index of the same name behind, so each build drops it
first rather than skipping it. PostgreSQL only: on SQLite this migration does nothing.
"""

from django.db import migrations

from fulfil.database import PostgresOnlySQL

COLUMNS = ("sku", "name", "description")
TEXT = "(UPPER((sku::text || CHR(10) || name::text || CHR(10) || description::text)))"


def build(name: str, expression: str) -> list[str]:
    return [
        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        f"CREATE INDEX CONCURRENTLY {name} ON products_product USING gin ({expression} gin_trgm_ops)",
    ]


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("products", "0008_list_order_newest_then_sku")]

    operations = [
        PostgresOnlySQL(build("product_text_trgm_idx", TEXT), "DROP INDEX CONCURRENTLY IF EXISTS product_text_trgm_idx"),
        *(
            PostgresOnlySQL(
                f"DROP INDEX CONCURRENTLY IF EXISTS product_{column}_trgm_idx",
                build(f"product_{column}_trgm_idx", f"(UPPER({column}::text))"),
            )
            for column in COLUMNS
        ),
    ]

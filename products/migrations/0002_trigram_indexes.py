"""Trigram (pg_trgm GIN) indexes so substring filters and search stay fast at a million rows.

They index exactly the expression Django's `icontains` compiles to on PostgreSQL,
`UPPER(column::text) LIKE UPPER('%term%')`, so the planner can use them. PostgreSQL only:
on SQLite (the embedded quick-start database) this migration does nothing.
"""

from django.db import migrations

from fulfil.database import PostgresOnlySQL

COLUMNS = ("sku", "name", "description")


class Migration(migrations.Migration):
    dependencies = [("products", "0001_initial")]

    operations = [
        PostgresOnlySQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
        *(
            PostgresOnlySQL(
                f'CREATE INDEX IF NOT EXISTS product_{column}_trgm_idx ON products_product '
                f"USING gin ((UPPER({column}::text)) gin_trgm_ops)",
                f"DROP INDEX IF EXISTS product_{column}_trgm_idx",
            )
            for column in COLUMNS
        ),
    ]

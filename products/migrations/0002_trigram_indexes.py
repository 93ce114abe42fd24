"""Trigram (pg_trgm GIN) indexes so substring filters and search stay fast at a million rows.

They index exactly the expression Django's `icontains` compiles to on PostgreSQL,
`UPPER(column::text) LIKE UPPER('%term%')`, so the planner can use them. PostgreSQL only:
on SQLite (the embedded quick-start database) this migration does nothing.
"""

from django.db import migrations

COLUMNS = ("sku", "name", "description")


class PostgresOnlySQL(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


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

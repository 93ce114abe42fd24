"""The list's order, newest first and then by SKU, and the index that serves its first page.

The new index is built before the old one goes, so the list never runs without one.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0007_sku_label"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="product",
            options={"ordering": ("-created_at", "sku_key")},
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(fields=["-created_at", "sku_key"], name="product_created_sku_idx"),
        ),
        migrations.RemoveIndex(
            model_name="product",
            name="product_created_idx",
        ),
    ]

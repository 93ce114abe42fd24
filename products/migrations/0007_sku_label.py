from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0006_job_crashes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="product",
            name="sku",
            field=models.CharField(max_length=100, verbose_name="SKU"),
        ),
    ]

"""manage.py cleanup: the periodic clean-up, on demand."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from fulfil.housekeeping import housekeeping_run


class Command(BaseCommand):
    help = (
        "Remove old finished imports with their files, old delete-all records, old webhook delivery logs "
        "and old webhook events."
    )

    def handle(self, *args, **options):
        removed = housekeeping_run()
        self.stdout.write(
            f"Removed {removed['imports']} imports, {removed['product_deletions']} delete-all records, "
            f"{removed['webhook_deliveries']} webhook delivery log entries and "
            f"{removed['webhook_events']} webhook events."
        )

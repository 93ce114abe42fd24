"""manage.py export_csv: the catalogue as CSV, in the shape import_csv reads back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fulfil.booleans import parse_bool
from products.selectors import product_export, product_list


class Command(BaseCommand):
    help = "Export products as CSV (sku,name,description,active) to a file, or to standard output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="The CSV file to write (standard output when left out).")
        parser.add_argument("--active", metavar="true|false", help="Only active, or only inactive, products.")
        parser.add_argument("--excel-safe", action="store_true", help="Neutralise cells a spreadsheet would run.")

    def handle(self, *args: Any, path: str | None, active: str | None, excel_safe: bool, **options: Any) -> None:
        products = product_list()
        if active is not None:
            wanted = parse_bool(active)
            if wanted is None:
                raise CommandError(f"--active must be true or false, got {active!r}.")
            products = products.filter(active=wanted)
        pieces = product_export(products=products, excel_safe=excel_safe)
        if path is None:
            for piece in pieces:
                sys.stdout.write(piece)
            return
        target = Path(path).expanduser()
        if not target.parent.is_dir():
            raise CommandError(f"{target.parent}: no such folder.")
        with target.open("w", encoding="utf-8", newline="") as out:
            out.writelines(pieces)
        self.stdout.write(f"Exported {products.count():,} products to {target}.")

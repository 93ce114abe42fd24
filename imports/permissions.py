# Importing creates and changes products, so it needs those permissions besides its own.
IMPORT_PERMISSIONS = ("imports.add_importjob", "products.add_product", "products.change_product")

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fulfil.settings")

application = get_wsgi_application()

from fulfil.database import limit_statement_time  # noqa: E402 - needs the settings loaded above

limit_statement_time()

# Everything loaded so far lives as long as the process: move it out of the garbage collector's
# way, so a full collection during a request walks only that request's objects (admin pages with
# editable lists leave thousands of cycles; without this, one request in twenty paid ~80 ms).
gc.collect()
gc.freeze()

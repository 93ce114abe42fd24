"""gunicorn's settings for `make run`, `make web` and the compose web service (it reads this file
from the working directory; the command line adds the address and the number of processes).

Threaded workers (gthread): a request that is slow to arrive, such as a large upload from a slow
client, holds one thread while it streams, not a whole process, so the other threads keep
answering. A sync worker would be pinned for the whole upload, and WEB_WORKERS slow clients would
stop the site.
"""

import os

worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS") or 8)
# A threaded worker tells the arbiter it is alive from its main loop, whatever its requests do;
# this bounds a worker that stopped doing even that.
timeout = 120
accesslog = "-"
# The longest request line gunicorn takes (its own maximum): a list with every filter and a
# search of the longest allowed fits.
limit_request_line = 8190

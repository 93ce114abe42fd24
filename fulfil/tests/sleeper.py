"""A command for test_foreground: says it is ready, then waits; Ctrl-C ends it quietly, as it
does gunicorn and a Celery worker."""

import signal
import sys
import time

signal.signal(signal.SIGINT, lambda signum, frame: sys.exit(0))
sys.stdout.write("ready\n")
sys.stdout.flush()
time.sleep(60)

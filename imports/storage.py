"""Where an import's file is kept: the one module that knows, whatever the storage.

An upload is kept in Django's default storage (STORAGES["default"]): MEDIA_ROOT, which web and
workers must then share, or an S3-compatible bucket, which workers on any host can read. An
import run by `import_csv` reads a file on the server (`source_path`). Reading, checking and
removing an import's file all come through here, so nothing else asks which it is.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

from django.conf import settings
from django.core.files.storage import Storage

if TYPE_CHECKING:
    from imports.models import ImportJob

_COPY_BUFFER = 1 << 20


@contextmanager
def import_file_open(job: ImportJob) -> Iterator[BinaryIO]:
    """The job's file open for reading (binary, seekable); FileNotFoundError when it is gone.

    A file on this host (MEDIA_ROOT, or import_csv's) is read where it is. One in object storage is
    first streamed into a temporary file of this worker's own in IMPORT_WORK_DIR, which has no name
    there: it goes when it is closed, when the import ends however it ends, or when the process
    is killed, so no copy is ever left behind. A resumed import reads its file afresh and skips
    the chunks it committed.
    """
    if not job.file:
        with Path(job.source_path).open("rb") as file:
            yield file
        return
    storage, name = job.file.storage, job.file.name
    local = _local_path(storage, name)
    if local is not None:
        with local.open("rb") as file:
            yield file
        return
    settings.IMPORT_WORK_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=settings.IMPORT_WORK_DIR, prefix="fulfil-import-") as copy:
        _download(storage, name, copy)
        copy.seek(0)
        yield copy


def import_file_exists(job: ImportJob) -> bool:
    """Is the job's file still stored (for a retry or a confirm to read)?"""
    if not job.file:
        return Path(job.source_path).is_file()
    return job.file.storage.exists(job.file.name)


def import_file_delete(job: ImportJob) -> None:
    """Remove the job's uploaded file from storage (one already gone is fine). A server file that
    import_csv read is the operator's, and stays."""
    if job.file:
        job.file.delete(save=False)


def _local_path(storage: Storage, name: str) -> Path | None:
    try:
        return Path(storage.path(name))
    except NotImplementedError:  # not on this host's file system
        return None


def _download(storage: Storage, name: str, into: IO[bytes]) -> None:
    """Stream a stored file into `into`, never holding it whole in memory; FileNotFoundError when
    it is gone."""
    with storage.open(name, "rb") as source:
        s3_object = getattr(source, "obj", None)
        if s3_object is not None:
            # django-storages' S3 file would buffer the whole object in memory when read; boto3's
            # managed download writes it straight into the file, in ranged parts.
            s3_object.download_fileobj(into, Config=getattr(storage, "transfer_config", None))
        else:  # another remote storage: a plain read, a buffer at a time
            shutil.copyfileobj(source, into, _COPY_BUFFER)

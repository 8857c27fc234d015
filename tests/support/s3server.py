"""An S3 endpoint for tests: moto's server mode on a free loopback port, reached only
through the minio SDK (MinIO itself cannot be installed on the test machines).

moto differs from MinIO where it matters to us (see docs/s3.md): it has no
``listen_bucket_notification`` (it answers the request with an XML listing), and it
ignores ``x-amz-copy-source-if-match`` on copies. Everything else we use (stat, ranged
and conditional GET, copy with metadata REPLACE, multipart ETags, list, delete) behaves
like S3.
"""

from __future__ import annotations

import io
import itertools
import logging
from dataclasses import dataclass
from typing import Iterator

import pytest
import urllib3
from minio import Minio

from pipeline.app.redis_server import free_loopback_port

ACCESS_KEY, SECRET_KEY, REGION = "pipeline-test", "pipeline-test-secret", "us-east-1"
_names = itertools.count(1)


@dataclass(frozen=True)
class Buckets:
    inbox: str
    archive: str
    quarantine: str


class MotoS3:
    """moto's threaded server (in this process, serving other processes too)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self.port = free_loopback_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> None:
        self._server.start()
        # wait until it answers
        self.client().list_buckets()

    def stop(self) -> None:
        self._server.stop()

    def client(self, retries: bool = True) -> Minio:
        """A minio client of this endpoint. ``retries=False``: fail at the first error."""
        http = None if retries else urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=10))
        return Minio(self.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False,
                     region=REGION, http_client=http)

    def env(self, buckets: Buckets) -> dict[str, str]:
        """The settings' environment of a pipeline using this endpoint and these buckets."""
        return {"PIPELINE_STORAGE": "s3", "S3_ENDPOINT": self.endpoint, "S3_ACCESS_KEY": ACCESS_KEY,
                "S3_SECRET_KEY": SECRET_KEY, "S3_SECURE": "0", "S3_REGION": REGION,
                "S3_INBOX_BUCKET": buckets.inbox, "S3_ARCHIVE_BUCKET": buckets.archive,
                "S3_QUARANTINE_BUCKET": buckets.quarantine}

    def new_buckets(self, create: bool = True) -> Buckets:
        """Three bucket names no other test uses (created unless ``create`` is False)."""
        n = next(_names)
        buckets = Buckets(f"t{n}-inbox", f"t{n}-archive", f"t{n}-quarantine")
        if create:
            client = self.client()
            for name in (buckets.inbox, buckets.archive, buckets.quarantine):
                client.make_bucket(name)
        return buckets


def put(client: Minio, bucket: str, key: str, data: bytes, part_size: int = 0) -> None:
    if part_size:  # a multipart upload: the ETag is "<md5 of md5s>-<parts>"
        client.put_object(bucket, key, io.BytesIO(data), -1, part_size=part_size)
    else:
        client.put_object(bucket, key, io.BytesIO(data), len(data))


def read(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def keys(client: Minio, bucket: str, prefix: str = "") -> list[str]:
    return sorted(o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=True))


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = MotoS3()
    server.start()
    yield server
    server.stop()

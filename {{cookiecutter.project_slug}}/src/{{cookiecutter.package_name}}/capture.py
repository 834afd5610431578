"""Capture: what the server was asked and answered, written to an inference log of Parquet files.

Each answered request becomes one row per record (request id, record index, time, model name and
registry version, the input row, the output) in Parquet files under a directory or an fsspec URL
(`s3://bucket/inference`). A file closes when it holds `file_rows` rows or `file_seconds` after
its first, whichever comes first; its name starts with the time it closed, so name order is time
order.

Hand-written because no library does this part: pyarrow writes the files and fsspec opens the
store, but a server must never wait for either. The request path only puts a request on a
bounded queue (no waiting: when the queue is full the request's rows are dropped); one writer
thread turns the queue into files. Rows that cannot be written, because the queue was full or the
store failed, are dropped, counted and logged, never raised into a prediction. `close()` (the
server's shutdown, SIGTERM) writes everything still queued, within a time limit.
"""

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

LOG_SECONDS = 10.0  # drops are logged at most this often, with how many since the last line

Table = Callable[[list[Any]], pa.Table]  # queued requests -> their rows, as one table
Counted = Callable[[int], None]  # told how many rows were written, or dropped


class Capture:
    """The queue and the writer thread behind one inference log. `to_table` turns the requests
    of one file into its rows; it runs on the writer thread."""

    def __init__(
        self,
        url: str,
        to_table: Table,
        queue_size: int,
        file_rows: int,
        file_seconds: float,
        written: Counted = lambda rows: None,
        dropped: Counted = lambda rows: None,
        log: logging.Logger | None = None,
    ) -> None:
        self.url = url
        self._fs, self._path = fsspec.core.url_to_fs(url)
        self._to_table = to_table
        self._file_rows, self._file_seconds = file_rows, file_seconds
        self._written, self._dropped = written, dropped
        self._log = log or logging.getLogger(__name__)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._stop = object()
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._lock = threading.Lock()
        self._unlogged, self._logged = 0, float("-inf")
        self._pending = 0  # rows queued or in the open file

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: Any, rows: int) -> None:
        """Queue one request (`rows` records) for the log; never waits, never raises."""
        try:
            self._queue.put_nowait((request, rows))
        except queue.Full:
            self._drop(rows, "the queue is full")
            return
        with self._lock:
            self._pending += rows

    def close(self, timeout: float) -> None:
        """Write what is queued and stop; what is still unwritten after `timeout` is dropped."""
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:  # a full queue makes room as the writer works
                self._queue.put(self._stop, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():  # counted as dropped, and said
            with self._lock:
                left = self._pending
            self._drop(left, f"shutdown could not write them within {timeout:g} s")
        with self._lock:
            unlogged, self._unlogged = self._unlogged, 0
        if unlogged:
            self._log.warning("inference log: dropped %d records since the last report", unlogged)

    def _run(self) -> None:
        # Requests are kept as they came and turned into columns once per file: converting
        # row by row here would compete with the request path for the interpreter's lock.
        requests: list[Any] = []
        rows, opened = 0, time.monotonic()
        while True:
            wait = self._file_seconds - (time.monotonic() - opened) if requests else None
            try:
                item = self._queue.get(timeout=max(wait, 0.0) if wait is not None else None)
            except queue.Empty:
                item = None  # the open file's time is up
            if item is self._stop:
                self._write(requests, rows)
                return
            if item is not None:
                if not requests:
                    opened = time.monotonic()
                requests.append(item[0])
                rows += item[1]
            if requests and (
                rows >= self._file_rows or time.monotonic() - opened >= self._file_seconds
            ):
                self._write(requests, rows)
                requests, rows = [], 0

    def _write(self, requests: list[Any], rows: int) -> None:
        if not requests:
            return
        closed = datetime.now(UTC)
        name = f"{closed:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.parquet"
        path = f"{self._path.rstrip('/')}/{name}"
        try:
            table = self._to_table(requests)
            self._fs.makedirs(self._path, exist_ok=True)
            if isinstance(self._fs, LocalFileSystem):
                # a reader that lists the folder never sees half a file: written aside, renamed
                partial = f"{self._path.rstrip('/')}/.{name}.partial"
                pq.write_table(table, partial, filesystem=self._fs)
                self._fs.mv(partial, path)
            else:  # an object store shows an object only once it is whole
                pq.write_table(table, path, filesystem=self._fs)
        # A store fails in its own ways (OSError, botocore's and s3fs's errors, pyarrow's):
        # whichever it is, the rows are counted as dropped and the server goes on.
        except Exception as error:
            self._drop(rows, f"{self.url} failed: {type(error).__name__}: {error}")
        else:
            self._written(rows)
        with self._lock:
            self._pending -= rows

    def _drop(self, rows: int, why: str) -> None:
        """Count dropped rows; log them, at most once every LOG_SECONDS (a full queue under
        load would otherwise write a line per request)."""
        self._dropped(rows)
        with self._lock:
            self._unlogged += rows
            now = time.monotonic()
            if now - self._logged < LOG_SECONDS:
                return
            rows, self._unlogged, self._logged = self._unlogged, 0, now
        self._log.warning("inference log: dropped %d records: %s", rows, why)

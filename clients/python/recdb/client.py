"""The blocking client: one Unix-socket connection to recd, requests answered in order, pipelining without deadlock."""

from __future__ import annotations

import selectors
import socket
import threading
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import Closed, IOFailure, RecDBError, Unavailable
from .protocol import DEFAULT_MAX_LINE, decode_response, encode_request
from .results import Recommendations

Params = Optional[Mapping[str, Any]]


class Client:
    """A blocking connection to recd.

    >>> with Client("shop.recdb/recd.sock") as db:
    ...     for item in db.recommend("RECOMMEND 10 ITEMS FOR USER $u EXCLUDE SEEN", u="u42"):
    ...         print(item.id, item.score)

    Parameters are bound (``$u``), never spliced into the text. Calls from several threads are serialised; use one
    client per thread, the asyncio client, or :meth:`pipeline` for throughput.
    """

    def __init__(self, socket_path: str, timeout: Optional[float] = 30.0, max_line: int = DEFAULT_MAX_LINE):
        self.socket_path = socket_path
        self.max_line = max_line
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._next_id = 1
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.settimeout(timeout)
        try:
            self._socket.connect(socket_path)
        except OSError as error:
            self._socket.close()
            raise Unavailable(f"cannot connect to {socket_path}: {error.strerror or error}") from None

    # -- queries -------------------------------------------------------------------------------------------------------

    def query(self, query: str, params: Params = None, **named: Any) -> Any:
        """Runs one statement; returns its result (JSON values) or raises its typed :class:`RecDBError`."""
        return self._run([(query, _merge(params, named))], raise_first=True)[0]

    def recommend(self, query: str, params: Params = None, **named: Any) -> Recommendations:
        """Runs a ``RECOMMEND … ITEMS/USERS`` statement and returns its items as :class:`Recommendation` objects."""
        return Recommendations.from_result(self.query(query, params, **named))

    def status(self) -> Any:
        """The daemon's own counters (``STATUS``): connections, requests, queues."""
        return self.query("STATUS")

    def pipeline(self) -> "Pipeline":
        """A batch of statements sent together and answered in order (see :class:`Pipeline`)."""
        return Pipeline(self)

    # -- connection ----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the connection (requests in flight are answered by the server and dropped here)."""
        self._socket.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- exchange ------------------------------------------------------------------------------------------------------

    def _run(self, requests: Sequence[Tuple[str, Params]], raise_first: bool) -> List[Any]:
        """Sends every request and reads every answer, interleaving both so neither side's buffers can fill and stall.

        Each element of the result is the request's result, or its :class:`RecDBError` when ``raise_first`` is false.
        With ``raise_first`` the first error is raised after all answers are read, so the connection stays in step.
        """
        with self._lock:
            first = self._next_id
            self._next_id += len(requests)
            out = bytearray()
            for offset, (query, params) in enumerate(requests):
                out += encode_request(first + offset, query, params, self.max_line)
            lines = self._exchange(bytes(out), len(requests))
        results: List[Any] = []
        for offset, line in enumerate(lines):
            try:
                results.append(decode_response(line, first + offset))
            except RecDBError as error:
                results.append(error)
        if raise_first:
            for result in results:
                if isinstance(result, RecDBError):
                    raise result
        return results

    def _exchange(self, out: bytes, count: int) -> List[bytes]:
        lines: List[bytes] = []
        view = memoryview(out)
        timeout = self._socket.gettimeout()
        with selectors.DefaultSelector() as selector:
            selector.register(self._socket, selectors.EVENT_READ | (selectors.EVENT_WRITE if view else 0))
            while len(lines) < count:
                self._take_lines(lines, count)
                if len(lines) == count:
                    break
                events = selector.select(timeout)
                if not events:
                    raise IOFailure(f"no answer from {self.socket_path} within {timeout} s")
                for _, mask in events:
                    if mask & selectors.EVENT_WRITE and view:
                        try:
                            sent = self._socket.send(view[: 1 << 16])
                        except OSError as error:
                            raise Closed(f"the connection closed while sending: {error}") from None
                        view = view[sent:]
                        if not view:
                            selector.modify(self._socket, selectors.EVENT_READ)
                    if mask & selectors.EVENT_READ:
                        try:
                            chunk = self._socket.recv(1 << 16)
                        except OSError as error:
                            raise Closed(f"the connection failed while reading: {error}") from None
                        if not chunk:
                            raise Closed(f"recd closed the connection after {len(lines)} of {count} answers")
                        self._buffer += chunk
        return lines

    def _take_lines(self, lines: List[bytes], count: int) -> None:
        while len(lines) < count:
            end = self._buffer.find(b"\n")
            if end < 0:
                return
            lines.append(bytes(self._buffer[:end]))
            del self._buffer[: end + 1]


class Pipeline:
    """Statements queued with :meth:`query` and sent in one go by :meth:`execute`, answers in order.

    >>> with db.pipeline() as batch:
    ...     for item in items:
    ...         batch.query("EVENT view USER $u ITEM $i", u="u1", i=item)
    ...     results = batch.execute()
    """

    def __init__(self, client: Client):
        self._client = client
        self._requests: List[Tuple[str, Params]] = []

    def query(self, query: str, params: Params = None, **named: Any) -> "Pipeline":
        """Queues a statement; returns the pipeline so calls chain."""
        self._requests.append((query, _merge(params, named)))
        return self

    def __len__(self) -> int:
        return len(self._requests)

    def execute(self, raise_on_error: bool = True) -> List[Union[Any, RecDBError]]:
        """Sends the queued statements and returns their results in order.

        With ``raise_on_error`` (the default) the first failure is raised once every answer is in; without it, failures
        are returned in place as :class:`RecDBError` objects.
        """
        requests, self._requests = self._requests, []
        if not requests:
            return []
        return self._client._run(requests, raise_first=raise_on_error)

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._requests = []


def _merge(params: Params, named: Mapping[str, Any]) -> Params:
    if not named:
        return params
    merged = dict(params or {})
    merged.update(named)
    return merged

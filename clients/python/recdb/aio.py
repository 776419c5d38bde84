"""The asyncio client: many tasks share one connection; their requests are pipelined and answered in order."""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Deque, Mapping, Optional, Tuple

from .client import Params, _merge
from .errors import Closed, RecDBError, Unavailable
from .protocol import DEFAULT_MAX_LINE, decode_response, encode_request
from .results import Recommendations

# Answers can be large (a page of generated explanations); the stream reader's line limit must not cut them.
_READ_LIMIT = 64 << 20


class AsyncClient:
    """An asyncio connection to recd.

    >>> async with await AsyncClient.connect("shop.recdb/recd.sock") as db:
    ...     pages = await asyncio.gather(*(db.recommend("RECOMMEND 5 ITEMS FOR USER $u", u=u) for u in users))

    Concurrent calls are written as they come and matched to answers in order (recd answers each connection in
    request order), so one connection carries many requests in flight.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, socket_path: str, max_line: int):
        self.socket_path = socket_path
        self.max_line = max_line
        self._reader = reader
        self._writer = writer
        self._pending: Deque[Tuple[int, asyncio.Future]] = collections.deque()
        self._next_id = 1
        self._failure: Optional[RecDBError] = None
        self._reading = asyncio.get_running_loop().create_task(self._read_answers())

    @classmethod
    async def connect(cls, socket_path: str, max_line: int = DEFAULT_MAX_LINE) -> "AsyncClient":
        """Opens a connection to recd's socket."""
        try:
            reader, writer = await asyncio.open_unix_connection(socket_path, limit=_READ_LIMIT)
        except OSError as error:
            raise Unavailable(f"cannot connect to {socket_path}: {error.strerror or error}") from None
        return cls(reader, writer, socket_path, max_line)

    async def query(self, query: str, params: Params = None, **named: Any) -> Any:
        """Runs one statement; returns its result (JSON values) or raises its typed :class:`RecDBError`."""
        if self._failure is not None:
            raise self._failure
        request_id = self._next_id
        self._next_id += 1
        line = encode_request(request_id, query, _merge(params, named), self.max_line)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((request_id, future))
        self._writer.write(line)
        await self._writer.drain()
        answer = await future
        return decode_response(answer, request_id)

    async def recommend(self, query: str, params: Params = None, **named: Any) -> Recommendations:
        """Runs a ``RECOMMEND`` statement and returns its items as :class:`Recommendation` objects."""
        return Recommendations.from_result(await self.query(query, params, **named))

    async def status(self) -> Any:
        """The daemon's own counters (``STATUS``)."""
        return await self.query("STATUS")

    async def close(self) -> None:
        """Closes the connection; requests still waiting fail with :class:`Closed`."""
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
        self._reading.cancel()
        self._fail_pending(Closed("the client closed the connection"))

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _read_answers(self) -> None:
        try:
            while True:
                line = await self._reader.readline()
                if not line.endswith(b"\n"):
                    self._fail_pending(Closed("recd closed the connection"))
                    return
                if not self._pending:
                    self._fail_pending(Closed("recd sent an answer nobody asked for"))
                    return
                _, future = self._pending.popleft()
                if not future.done():
                    future.set_result(line[:-1])
        except (OSError, asyncio.LimitOverrunError, ValueError) as error:
            self._fail_pending(Closed(f"reading from recd failed: {error}"))

    def _fail_pending(self, error: RecDBError) -> None:
        self._failure = self._failure or error
        while self._pending:
            _, future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)

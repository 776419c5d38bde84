"""Framing shared by the sync and asyncio clients: request lines out, response lines in (one JSON object per line)."""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from .errors import BadResponse, error_from_wire

#: The server's default longest request line (recd --max-line); longer requests are refused before sending.
DEFAULT_MAX_LINE = 1 << 20


def encode_request(request_id: int, query: str, params: Optional[Mapping[str, Any]], max_line: int) -> bytes:
    """One request line: ``{"id": N, "q": query, "params": {...}}`` and a newline. Parameters are bound, never spliced."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, not {type(query).__name__}")
    envelope: dict = {"id": request_id, "q": query}
    if params:
        envelope["params"] = dict(params)
    line = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"
    if len(line) > max_line:
        from .errors import TooLarge

        raise TooLarge(f"the request is {len(line)} bytes; the server takes at most {max_line}")
    return line


def decode_response(line: bytes, expected_id: Optional[int]) -> Any:
    """The result of one response line, or raises its typed error (``BadResponse`` when the line is not a response)."""
    try:
        response = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadResponse(f"the server's line is not JSON: {error}") from None
    if not isinstance(response, dict) or "ok" not in response:
        raise BadResponse("the server's line has no \"ok\" field")
    if expected_id is not None and response.get("id") not in (expected_id, None):
        raise BadResponse(f"the answer is for request {response.get('id')!r}, expected {expected_id}")
    if response["ok"] is True:
        return response.get("result")
    error = response.get("error")
    if not isinstance(error, dict):
        raise BadResponse("a failure without an \"error\" object")
    raise error_from_wire(error)

"""Typed errors mirroring the wire protocol's code table (Schemas/wire-protocol.schema.json, RecDBError.Code)."""

from __future__ import annotations

from typing import Dict, Optional, Type


class RecDBError(Exception):
    """A failure: the server's error (code, message, `at` for syntax errors) or one on this side of the socket.

    Catch a subclass for one code (``NotFound``, ``QuerySyntaxError``, ``PermissionDenied``, …) or this class for all.
    """

    code = "internal"

    def __init__(self, message: str, code: Optional[str] = None, at: Optional[int] = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.at = at

    def __str__(self) -> str:
        where = f" (at {self.at})" if self.at is not None else ""
        return f"{self.code}: {self.message}{where}"


def _error(name: str, code: str, doc: str) -> Type[RecDBError]:
    return type(name, (RecDBError,), {"code": code, "__doc__": doc})


# One class per server code, in the schema's order.
Storage = _error("Storage", "storage", "LMDB failed.")
MapFull = _error("MapFull", "map_full", "The memory map is full and could not grow.")
NotRecDB = _error("NotRecDB", "not_recdb", "The folder is not a RecDB database.")
FormatTooNew = _error("FormatTooNew", "format_too_new", "The database was written by a newer RecDB.")
NotFound = _error("NotFound", "not_found", "An id, model or space does not exist.")
InvalidArgument = _error("InvalidArgument", "invalid_argument", "A value is out of range or of the wrong kind.")
MalformedInput = _error("MalformedInput", "malformed_input", "Input does not follow its format.")
InvalidUTF8 = _error("InvalidUTF8", "invalid_utf8", "Bytes are not valid UTF-8.")
TruncatedInput = _error("TruncatedInput", "truncated_input", "Input ended early.")
UnknownFormat = _error("UnknownFormat", "unknown_format", "The import format is not known.")
Corrupted = _error("Corrupted", "corrupted", "A database file is damaged.")
IOFailure = _error("IOFailure", "io", "An I/O operation failed (on the server, or the socket on this side).")
AlreadyExists = _error("AlreadyExists", "already_exists", "The thing to create exists already.")
QuerySyntaxError = _error("QuerySyntaxError", "syntax", "The statement does not parse; `at` is the offset.")
DiskFull = _error("DiskFull", "disk_full", "The disk is full.")
PermissionDenied = _error("PermissionDenied", "permission_denied", "The peer's role does not allow the statement.")
LimitExceeded = _error("LimitExceeded", "limit_exceeded", "The statement asks for more work than the limits allow.")
Timeout = _error("Timeout", "timeout", "The statement ran past its deadline.")
Busy = _error("Busy", "busy", "The slow-request lane is full; retry later.")
Cancelled = _error("Cancelled", "cancelled", "The statement was cancelled.")
BadRequest = _error("BadRequest", "bad_request", "The request envelope is not valid.")
TooLarge = _error("TooLarge", "too_large", "The request line is longer than the server allows.")
ReadOnly = _error("ReadOnly", "read_only", "The server runs read-only.")
ShuttingDown = _error("ShuttingDown", "shutting_down", "The server is stopping.")
TooManyConnections = _error("TooManyConnections", "too_many_connections", "The server has no room for a connection.")
Internal = _error("Internal", "internal", "A bug on the server.")

# Client-side codes (never sent by the server).
Unavailable = _error("Unavailable", "unavailable", "The socket could not be reached.")
Closed = _error("Closed", "closed", "The connection closed before the answer came.")
BadResponse = _error("BadResponse", "bad_response", "The server's line is not a valid response.")

#: Every code the server sends, mapped to its class (a test keeps this equal to the schema's enum).
SERVER_ERRORS: Dict[str, Type[RecDBError]] = {
    cls.code: cls
    for cls in (
        Storage, MapFull, NotRecDB, FormatTooNew, NotFound, InvalidArgument, MalformedInput, InvalidUTF8,
        TruncatedInput, UnknownFormat, Corrupted, IOFailure, AlreadyExists, QuerySyntaxError, DiskFull,
        PermissionDenied, LimitExceeded, Timeout, Busy, Cancelled, BadRequest, TooLarge, ReadOnly, ShuttingDown,
        TooManyConnections, Internal,
    )
}


def error_from_wire(error: dict) -> RecDBError:
    """The typed exception for a response's ``error`` object."""
    code = error.get("code", "internal")
    cls = SERVER_ERRORS.get(code, RecDBError)
    return cls(error.get("message", ""), code=code, at=error.get("at"))

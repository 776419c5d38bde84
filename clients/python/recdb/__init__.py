"""Python client for recd, RecDB's recommendation daemon.

``Client`` blocks; ``AsyncClient`` is for asyncio. Both speak the line protocol of Schemas/wire-protocol.schema.json:
one JSON request per line, one JSON answer per line, in order. Failures are :class:`RecDBError` subclasses named
after the server's codes (``NotFound``, ``QuerySyntaxError``, ``PermissionDenied``, …).
"""

from .aio import AsyncClient
from .client import Client, Pipeline
from .errors import *  # noqa: F401,F403 - the typed errors are part of the API
from .errors import SERVER_ERRORS, RecDBError
from .results import Recommendation, Recommendations

__all__ = ["AsyncClient", "Client", "Pipeline", "Recommendation", "Recommendations", "RecDBError", "SERVER_ERRORS"]
__version__ = "0.1.0"

"""A deadline on reading a request body, so a client that stalls mid-body is cut off.

uvicorn has no body read timeout (its keep-alive timer runs only between requests): a
client that sends the headers and part of a body holds its connection and a task for as
long as it likes, and 10,000 of them once held ~100 MB. :class:`RouterApp` wraps every
request's ``receive`` in a :class:`BodyDeadline`: the body must be complete within
``timeout_s`` of the first read, or the read raises :class:`BodyTimeoutError`, which the
endpoints answer with 408 and ``Connection: close`` (uvicorn then drops the connection).
Reads after the body is complete (waiting for a disconnect) have no deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from router.payment_request import RequestError

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
CLOSE = (b"connection", b"close")


class BodyTimeoutError(RequestError):
    """The request body did not arrive in time; answer 408 and close the connection."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            408,
            "request_timeout",
            [("body", f"the request body did not arrive within {timeout_s:g} s")],
            headers=(CLOSE,),
        )


class BodyDeadline:
    """``receive`` with a deadline on the whole body, counted from the first read."""

    __slots__ = ("_complete", "_deadline", "_receive", "timeout_s")

    def __init__(self, receive: Receive, timeout_s: float) -> None:
        self._receive = receive
        self.timeout_s = timeout_s
        self._deadline: float | None = None
        self._complete = False

    async def __call__(self) -> Message:
        if self._complete:
            return await self._receive()
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().time() + self.timeout_s
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            raise BodyTimeoutError(self.timeout_s) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._complete = True
        return message

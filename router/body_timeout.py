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
    """``receive`` with a deadline on the whole body, counted from the first read.

    One timer handle per read that may wait, not an ``asyncio.timeout`` context: this
    runs for every payment, and the handle costs about a third as much.
    """

    __slots__ = ("_complete", "_deadline", "_expired", "_receive", "timeout_s")

    def __init__(self, receive: Receive, timeout_s: float) -> None:
        self._receive = receive
        self.timeout_s = timeout_s
        self._deadline: float | None = None
        self._complete = False
        self._expired = False

    async def __call__(self) -> Message:
        if self._complete:
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            self._deadline = loop.time() + self.timeout_s
        task = asyncio.current_task()
        assert task is not None
        handle = loop.call_at(self._deadline, self._expire, task)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if self._expired and task.uncancel() == 0:  # our cancel, nobody else's
                raise BodyTimeoutError(self.timeout_s) from None
            raise
        finally:
            handle.cancel()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._complete = True
        return message

    def _expire(self, task: asyncio.Task[object]) -> None:
        self._expired = True
        task.cancel()

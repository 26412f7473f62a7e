"""A child service that outlives its parent shuts itself down.

``runtime.stack`` starts the mock acquirers and the router as processes in sessions of
their own (so a Ctrl-C in the terminal reaches the parent, which stops them in order).
If the parent is killed outright (SIGKILL, an OOM kill, a CI job timeout), nothing stops
them: they would hold their ports and keep serving forever. So the parent passes its
pid in ``ROUTELAB_PARENT_PID``; the child checks every ``poll_s`` that it is still its
parent, and when it is not (the child was re-parented), it sends itself SIGTERM: the
same graceful shutdown, with in-flight payments drained, as a normal stop.

A service started by hand (no ``ROUTELAB_PARENT_PID``) is not watched.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

PARENT_ENV = "ROUTELAB_PARENT_PID"

log = logging.getLogger("routelab.parent")


def watched_parent() -> int | None:
    """The pid this process must stay the child of, or None when not asked to watch."""
    value = os.environ.get(PARENT_ENV, "").strip()
    return int(value) if value.isdigit() else None


def _terminate() -> None:
    signal.raise_signal(signal.SIGTERM)


class ParentWatch:
    """Checks every ``poll_s`` that the parent is alive; calls ``on_orphaned`` once if not."""

    def __init__(
        self,
        parent_pid: int | None = None,
        poll_s: float = 0.5,
        on_orphaned: Callable[[], None] = _terminate,
    ) -> None:
        self.parent_pid = watched_parent() if parent_pid is None else parent_pid
        self.poll_s = poll_s
        self.on_orphaned = on_orphaned
        self.orphaned = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start watching (from inside the running event loop); a no-op with no parent pid."""
        if self.parent_pid is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(self.parent_pid))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self, parent_pid: int) -> None:
        while os.getppid() == parent_pid:
            await asyncio.sleep(self.poll_s)
        self.orphaned = True
        log.warning(
            "parent process %d is gone: shutting down gracefully",
            parent_pid,
            extra={"fields": {"parent_pid": parent_pid}},
        )
        self.on_orphaned()

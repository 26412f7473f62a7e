"""Process housekeeping shared by the services (runtime/).

FrozenHeap: survivors are frozen out of the collector's sight, and reclaimed now and
then. ParentWatch: a child service notices when its parent is gone.
"""

from __future__ import annotations

import asyncio
import gc
import os
import weakref

import pytest

from runtime.heap import FrozenHeap
from runtime.parent import PARENT_ENV, ParentWatch, watched_parent


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector can free it


def test_freezes_survivors_and_periodically_reclaims_frozen_garbage() -> None:
    async def scenario() -> None:
        heap = FrozenHeap(freeze_s=0.02, reclaim_s=0.3)
        heap.start()
        assert gc.get_freeze_count() > 0  # start-up objects are frozen at once
        node = Node()
        alive = weakref.ref(node)
        await asyncio.sleep(0.05)  # a freeze tick passes while the node is alive
        del node
        gc.collect()
        assert alive() is not None, "a frozen object must be out of the collector's reach"
        await asyncio.sleep(0.4)  # past reclaim_s: unfrozen and collected once
        assert alive() is None, "frozen cyclic garbage must be reclaimed periodically"
        heap.stop()
        assert gc.get_freeze_count() == 0  # a stopped heap leaves nothing frozen

    try:
        asyncio.run(scenario())
    finally:
        gc.unfreeze()


def test_parent_watch_stays_quiet_while_the_parent_lives() -> None:
    calls: list[str] = []

    async def scenario() -> None:
        watch = ParentWatch(os.getppid(), poll_s=0.01, on_orphaned=lambda: calls.append("x"))
        watch.start()
        await asyncio.sleep(0.1)
        assert not watch.orphaned
        watch.stop()

    asyncio.run(scenario())
    assert calls == []


def test_parent_watch_calls_back_once_when_the_parent_is_not_its_parent() -> None:
    calls: list[str] = []

    async def scenario() -> None:
        # a pid that is not this process's parent: as after re-parenting to init
        watch = ParentWatch(os.getppid() + 1, poll_s=0.01, on_orphaned=lambda: calls.append("x"))
        watch.start()
        await asyncio.sleep(0.1)
        assert watch.orphaned

    asyncio.run(scenario())
    assert calls == ["x"]


def test_parent_watch_needs_a_parent_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PARENT_ENV, raising=False)
    assert watched_parent() is None

    async def scenario() -> None:
        watch = ParentWatch()
        watch.start()  # nothing to watch: no task
        assert watch.parent_pid is None and watch._task is None

    asyncio.run(scenario())
    monkeypatch.setenv(PARENT_ENV, "4242")
    assert watched_parent() == 4242
    monkeypatch.setenv(PARENT_ENV, "not a pid")
    assert watched_parent() is None


def test_restart_budget_backs_off_on_quick_crashes_and_gives_up() -> None:
    from runtime.stack import RestartBudget, exit_description

    budget = RestartBudget(max_quick_restarts=3, stable_after_s=30.0, first_backoff_s=0.5)
    assert [budget.after_crash(1.0) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert budget.after_crash(1.0) is None  # the fourth quick crash in a row: give up
    stable = RestartBudget(max_quick_restarts=2, max_backoff_s=1.5)
    assert stable.after_crash(0.1) == 0.5 and stable.after_crash(0.1) == 1.0
    assert stable.after_crash(45.0) == 0.5  # it ran for a while: the count starts afresh
    assert [stable.after_crash(0.1), stable.after_crash(0.1)] == [1.0, None]
    capped = RestartBudget(max_quick_restarts=10, first_backoff_s=1.0, max_backoff_s=3.0)
    assert [capped.after_crash(0.0) for _ in range(4)] == [1.0, 2.0, 3.0, 3.0]
    assert exit_description(-9) == "killed by SIGKILL"
    assert exit_description(1) == "exit code 1"

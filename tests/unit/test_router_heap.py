"""FrozenHeap: survivors are frozen out of the collector's sight, and reclaimed now and then."""

from __future__ import annotations

import asyncio
import gc
import weakref

from router.heap import FrozenHeap


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
        await heap.stop()

    try:
        asyncio.run(scenario())
    finally:
        gc.unfreeze()

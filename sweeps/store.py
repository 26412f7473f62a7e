"""Finished replications kept on disk, so an interrupted sweep resumes where it stopped.

One JSON file per finished (point, replication) task, named by its key
(:meth:`sweeps.plan.SweepPoint.task_key`), holding the outcome's plain-data report (the
tally, simulated payments, queue waits) and, for whoever reads the folder, what the
task was. A file is written to a temporary name and renamed, so a task interrupted
while it is saved leaves no half-written file; a file that cannot be read back is
ignored and its task runs again. JSON keeps every float exactly (shortest round-trip
representation), so figures pooled from stored tasks equal those of a fresh run.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import orjson

from simulator.executors import ReplicationOutcome

TASKS_DIR = "tasks"


class TaskStore:
    """A folder of finished tasks, one file per task key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> ReplicationOutcome | None:
        """The stored outcome of task ``key``, or None (not run, or unreadable)."""
        path = self._path(key)
        try:
            data = orjson.loads(path.read_bytes())
            return ReplicationOutcome.from_report(data["outcome"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                path.unlink()  # damaged: run the task again
            return None

    def save(self, key: str, outcome: ReplicationOutcome, about: dict[str, Any]) -> None:
        """Store task ``key``'s outcome; ``about`` says what the task was (for people)."""
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        data = {"task": about, "outcome": outcome.report()}
        tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY))
        tmp.replace(path)

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*.json"))

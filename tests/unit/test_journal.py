"""The payment journal: durable across a crash, replayed on start, bounded by time.

Crashes are simulated twice over: by abandoning a journal object and opening its file
again, and by SIGKILL of a process in the middle of its writes. No timed assertions:
the journal's speed is measured by benchmarks/bench_journal.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from router.journal import JournalFailedError, JournalFullError, SqliteJournal
from router.journal_replay import Replay

DIGEST = bytes(range(16))


def start(journal: SqliteJournal, n: int, acquirers: tuple[str, ...] = ("acq_a", "acq_b")) -> str:
    pid = f"pay_{n}"
    journal.payment_started(pid, f"key-{n}", DIGEST, "default", acquirers)
    return pid


def replay_of(path: Path, **options: float) -> Replay:
    async def read() -> Replay:
        journal = SqliteJournal(path, **options)  # type: ignore[arg-type]
        try:
            return journal.replay()
        finally:
            await journal.close()

    return asyncio.run(read())


def test_records_replay_as_keys_unfinished_payments_and_open_attempts(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"

    async def write() -> None:
        journal = SqliteJournal(path)
        done = start(journal, 1)
        journal.attempt_sent(done, 1, "acq_a", f"{done}-1")
        journal.attempt_answered(done, 1, "00", "approved", True)
        journal.payment_finished(done, "approved", 200, b'{"status":"approved"}')
        hung = start(journal, 2)  # timed out, void confirmed, cascaded, then the crash
        journal.attempt_sent(hung, 1, "acq_a", f"{hung}-1")
        journal.attempt_answered(hung, 1, "68", "timeout", False)
        journal.attempt_settled(hung, 1, "voided", True)
        journal.attempt_sent(hung, 2, "acq_b", f"{hung}-2")
        late = start(journal, 3)  # finished failed, but its void was never confirmed
        journal.attempt_sent(late, 1, "acq_a", f"{late}-1")
        journal.attempt_answered(late, 1, "68", "timeout", False)
        journal.attempt_settled(late, 1, "unconfirmed", False)
        journal.payment_finished(late, "failed", 200, b'{"status":"failed"}')
        start(journal, 4)  # decided, not yet sent anywhere
        await journal.flush()
        await journal.close()

    asyncio.run(write())
    replay = replay_of(path)
    assert set(replay.keys) == {"key-1", "key-2", "key-3", "key-4"}
    first = replay.keys["key-1"]
    assert first.payment_id == "pay_1" and first.body_hash == DIGEST
    assert first.result is not None and first.result.response == b'{"status":"approved"}'
    assert (first.result.status, first.result.http_status) == ("approved", 200)
    assert replay.keys["key-2"].result is None  # in progress
    assert {p.payment_id for p in replay.unfinished} == {"pay_2", "pay_4"}
    hung = next(p for p in replay.unfinished if p.payment_id == "pay_2")
    assert hung.acquirers == ("acq_a", "acq_b") and hung.rule == "default"
    assert [(a.attempt, a.code, a.settlement, a.resolved) for a in hung.attempts] == [
        (1, "68", "voided", True),
        (2, None, None, False),
    ]
    open_keys = sorted(a.key for a in replay.open_attempts)
    assert open_keys == ["pay_2-2", "pay_3-1"]  # sent without an answer; void unconfirmed
    unconfirmed = next(a for a in replay.open_attempts if a.key == "pay_3-1")
    assert (unconfirmed.certain, unconfirmed.settlement) == (False, "unconfirmed")


def test_an_abandoned_journal_loses_nothing_it_said_was_durable(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"

    async def write_then_abandon() -> None:
        journal = SqliteJournal(path)
        for n in range(200):
            pid = start(journal, n)
            journal.attempt_sent(pid, 1, "acq_a", f"{pid}-1")
        await journal.flush()
        # no close(): the object is dropped as a crashed process drops it

    asyncio.run(write_then_abandon())
    replay = replay_of(path)
    assert len(replay.keys) == 200 and len(replay.unfinished) == 200
    assert sorted(a.key for a in replay.open_attempts) == sorted(f"pay_{n}-1" for n in range(200))


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from router.journal import SqliteJournal

    async def main() -> None:
        journal = SqliteJournal(sys.argv[1])
        n = 0
        while True:  # until killed
            for _ in range(50):
                n += 1
                pid = f"pay_{n}"
                journal.payment_started(pid, f"key-{n}", bytes(16), "default", ["acq_a"])
                journal.attempt_sent(pid, 1, "acq_a", pid + "-1")
            await journal.flush()
            print(n, flush=True)  # everything up to n is durable
            for m in range(n - 49, n + 1):  # answered, but not flushed before the next batch
                journal.attempt_answered(f"pay_{m}", 1, "00", "approved", True)

    asyncio.run(main())
    """
)


def test_sigkill_mid_writes_loses_nothing_flushed(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        durable = 0
        for line in process.stdout:
            durable = int(line)
            if durable >= 2000:
                break
        os.kill(process.pid, signal.SIGKILL)  # mid-writes: the next batch is being queued
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    assert durable >= 2000
    replay = replay_of(path)
    assert all(f"key-{n}" in replay.keys for n in range(1, durable + 1))
    assert all(replay.keys[f"key-{n}"].result is None for n in range(1, durable + 1))
    # every attempt the killed process said it sent is either still open or was answered
    open_keys = {a.key for a in replay.open_attempts}
    answered = {a.key for p in replay.unfinished for a in p.attempts if a.resolved}
    assert all(f"pay_{n}-1" in open_keys | answered for n in range(1, durable + 1))
    assert len(open_keys & answered) == 0


def test_keys_are_purged_only_after_their_retention(tmp_path: Path) -> None:
    now = [1_000_000.0]

    async def scenario() -> None:
        journal = SqliteJournal(
            tmp_path / "journal.db", retention_s=3600.0, purge_every_s=0.05, clock=lambda: now[0]
        )
        for n in range(3):
            pid = start(journal, n)
            journal.attempt_sent(pid, 1, "acq_a", f"{pid}-1")
            journal.attempt_answered(pid, 1, "05", "soft_decline", True)
            if n != 2:  # pay_2 stays in progress
                journal.payment_finished(pid, "declined", 200, b"{}")
        unresolved = start(journal, 3)  # finished, but an approval may still be open
        journal.attempt_sent(unresolved, 1, "acq_a", f"{unresolved}-1")
        journal.payment_finished(unresolved, "failed", 200, b"{}")
        await journal.flush()
        now[0] += 3599.0  # just inside the retention: a purge keeps everything
        await asyncio.sleep(0.2)
        assert set(journal.replay().keys) == {"key-0", "key-1", "key-2", "key-3"}
        assert journal.payments == 4
        now[0] += 2.0  # past it: finished payments with every attempt resolved go
        for _ in range(100):
            await asyncio.sleep(0.05)
            if journal.payments == 2:
                break
        replay = journal.replay()
        assert set(replay.keys) == {"key-2"}  # in progress: kept whatever its age
        assert [a.key for a in replay.open_attempts] == ["pay_3-1"]  # kept for settling
        assert journal.payments == 2
        await journal.close()

    asyncio.run(scenario())


def test_a_full_journal_refuses_new_payments_and_forgets_no_key(tmp_path: Path) -> None:
    now = [5_000.0]

    async def scenario() -> None:
        journal = SqliteJournal(
            tmp_path / "journal.db",
            retention_s=600.0,
            max_payments=3,
            purge_every_s=3600.0,
            clock=lambda: now[0],
        )
        for n in range(3):
            pid = start(journal, n)
            journal.payment_finished(pid, "declined", 200, b"{}")
            now[0] += 10.0
        await journal.flush()
        with pytest.raises(JournalFullError) as full:
            start(journal, 99)
        assert full.value.retry_after_s >= 1
        assert set(journal.replay().keys) == {"key-0", "key-1", "key-2"}
        now[0] = 5_000.0 + 601.0  # key-0 has left its retention: the refusal purged it
        for _ in range(100):
            await asyncio.sleep(0.02)
            try:
                start(journal, 99)
                break
            except JournalFullError as again:
                assert again.retry_after_s >= 1
        await journal.flush()
        assert set(journal.replay().keys) == {"key-1", "key-2", "key-99"}
        await journal.close()

    asyncio.run(scenario())


def test_a_closed_journal_refuses_and_a_write_failure_reaches_flush(tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = SqliteJournal(tmp_path / "journal.db")
        await journal.close()
        with pytest.raises(JournalFailedError):
            start(journal, 1)
        broken = SqliteJournal(tmp_path / "broken.db")
        pid = start(broken, 1)
        await broken.flush()
        # a value SQLite cannot store fails the writer's transaction, as a full disk would
        broken.attempt_answered(pid, 1, object(), "approved", True)  # type: ignore[arg-type]
        with pytest.raises(JournalFailedError):
            await broken.flush()
        with pytest.raises(JournalFailedError):
            start(broken, 2)
        with pytest.raises(JournalFailedError):
            broken.attempt_sent(pid, 1, "acq_a", f"{pid}-1")
        assert set(broken.replay().keys) == {"key-1"}  # what was durable stays durable
        await broken.close()

    asyncio.run(scenario())


def test_one_turn_of_the_event_loop_is_one_hand_off_and_one_commit(tmp_path: Path) -> None:
    """Records appended in one turn of the event loop reach the writer together: one
    transaction, however many payments; close() writes what was never flushed."""
    path = tmp_path / "journal.db"

    async def write() -> tuple[int, int, int]:
        journal = SqliteJournal(path)
        for n in range(300):
            pid = start(journal, n)
            journal.attempt_sent(pid, 1, "acq_a", f"{pid}-1")
        await journal.flush()
        first = journal.commits
        for n in range(300):  # answered in the next turn, then closed without a flush
            journal.attempt_answered(f"pay_{n}", 1, "00", "approved", True)
        await journal.close()
        return first, journal.commits, journal.records

    first, commits, records = asyncio.run(write())
    assert (first, commits, records) == (1, 2, 900)
    replay = replay_of(path)
    assert len(replay.unfinished) == 300
    assert all(a.outcome == "approved" and a.certain for a in replay.unfinished[0].attempts)
    assert all(p.attempts[0].code == "00" for p in replay.unfinished)


def test_appends_without_an_event_loop_are_handed_over_at_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    journal = SqliteJournal(path)
    pid = start(journal, 1)  # no running loop: nothing may wait for a turn that never comes
    journal.attempt_sent(pid, 1, "acq_a", f"{pid}-1")
    asyncio.run(journal.flush())
    assert journal.records == 2
    asyncio.run(journal.close())
    assert [a.key for a in replay_of(path).open_attempts] == ["pay_1-1"]


def test_payment_ids_sort_by_creation_and_stay_unguessable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Time first (the journal's keys then grow at their right edge), 64 random bits after."""
    from router import app

    ms = 1_764_806_400_000  # 2025-12-04 00:00:00 UTC
    clock = iter([ms * 1_000_000, ms * 1_000_000 + 999_999, (ms + 1) * 1_000_000, ms * 10**6])
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    same_ms_a, same_ms_b, later, again = (app.new_payment_id() for _ in range(4))
    for pid in (same_ms_a, same_ms_b, later, again):
        assert re.fullmatch(r"pay_[0-9a-f]{28}", pid), pid
    assert int(same_ms_a[4:16], 16) == ms and int(later[4:16], 16) == ms + 1
    assert same_ms_a[:16] == same_ms_b[:16] and same_ms_a != same_ms_b  # the random part
    assert len({same_ms_a, same_ms_b, later, again}) == 4
    assert max(same_ms_a, same_ms_b, again) < later  # a later millisecond sorts after


def test_flush_waits_for_the_commit_even_after_a_refusal_woke_the_writer(
    tmp_path: Path,
) -> None:
    """A flush with nothing appended returns at once; a refusal's wake-up (the journal
    full before anything was handed over) never marks later records durable early."""
    path = tmp_path / "journal.db"

    async def fill() -> None:
        journal = SqliteJournal(path)
        start(journal, 1)
        await journal.flush()
        await journal.close()

    asyncio.run(fill())

    async def scenario() -> tuple[int, int]:
        journal = SqliteJournal(path, max_payments=1, purge_every_s=3600.0)
        await asyncio.wait_for(journal.flush(), 5.0)  # nothing appended: nothing to wait for
        with pytest.raises(JournalFullError):
            start(journal, 2)  # wakes the writer to purge, before any hand-off
        await asyncio.sleep(0.2)  # the writer has handled the wake-up
        journal.attempt_sent("pay_1", 1, "acq_a", "pay_1-1")
        await journal.flush()
        committed = journal.records  # read as soon as flush returns
        await journal.close()
        return committed, journal.records

    assert asyncio.run(scenario()) == (1, 1)
    assert [a.key for a in replay_of(path).open_attempts] == ["pay_1-1"]


def test_a_hand_off_left_on_a_stopped_loop_is_made_by_the_next_flush(tmp_path: Path) -> None:
    """Records appended in a loop's last turn (its hand-off scheduled but never run, the
    loop stopped and closed) still reach the disk on the next flush, from another loop."""
    path = tmp_path / "journal.db"
    journal = SqliteJournal(path)

    def last_turn() -> None:
        start(journal, 1)
        loop.stop()  # the hand-off is queued for a turn this loop will not take

    loop = asyncio.new_event_loop()
    loop.call_soon(last_turn)
    loop.run_forever()
    loop.close()
    asyncio.run(asyncio.wait_for(journal.flush(), 5.0))
    assert journal.records == 1
    asyncio.run(journal.close())
    assert set(replay_of(path).keys) == {"key-1"}

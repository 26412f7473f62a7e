"""The attempt log: its schema is pinned, the writer is bounded, flushes from a thread,
and what is written reads back (Parquet and CSV)."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from results.attempt_log import (
    SCHEMA,
    SCHEMA_VERSION,
    VERSION_KEY,
    AttemptLogError,
    AttemptLogWriter,
    read_attempt_log,
)

# A change here is a change of the published format: bump SCHEMA_VERSION and update
# docs/attempt_log.md with it.
PINNED = [
    ("t_s", "double"),
    ("payment_id", "string"),
    ("attempt", "int16"),
    ("network", "string"),
    ("card_type", "string"),
    ("bin", "string"),
    ("issuer_country", "string"),
    ("currency", "string"),
    ("amount", "int64"),
    ("cross_border", "bool"),
    ("rule", "string"),
    ("candidates", "list<item: string>"),
    ("acquirer", "string"),
    ("propensity", "double"),
    ("outcome", "string"),
    ("raw_code", "string"),
    ("code", "string"),
    ("latency_ms", "double"),
    ("fee", "double"),
    ("final_status", "string"),
    ("engine", "string"),
    ("replication", "int32"),
]


def row(k: int, propensity: float = 0.5) -> tuple[object, ...]:
    return (
        k * 0.1, f"pay_{k}", 1, "visa", "debit", "424242", "DE", "EUR", 1250 + k, False,
        "default", ("acq_a", "acq_b"), "acq_a", propensity, "approved", "00", "00", 210.5,
        13.1, "approved",
    )  # fmt: skip


def test_the_schema_is_pinned_with_its_version() -> None:
    assert [(f.name, str(f.type)) for f in SCHEMA] == PINNED
    assert SCHEMA_VERSION == 1
    assert SCHEMA.metadata == {VERSION_KEY: b"1"}
    assert [f.name for f in SCHEMA if f.nullable] == ["propensity"]


def test_docs_describe_every_column(repo_root: Path) -> None:
    text = (repo_root / "docs" / "attempt_log.md").read_text("utf-8")
    assert f"schema version {SCHEMA_VERSION}" in text.lower()
    missing = [name for name, _ in PINNED if f"`{name}`" not in text]
    assert not missing


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_rows_read_back_as_written(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"log{suffix}"
    with AttemptLogWriter(
        path, engine="live", replication=3, row_group_rows=2, auto_flush=True
    ) as log:
        for k in range(5):
            assert log.append(*row(k, propensity=math.nan if k == 4 else 0.25))  # type: ignore[arg-type]
    table = read_attempt_log(path)
    assert table.schema.equals(SCHEMA)
    assert table.num_rows == 5
    first = table.to_pylist()[0]
    assert first["candidates"] == ["acq_a", "acq_b"] and first["engine"] == "live"
    assert first["replication"] == 3 and first["amount"] == 1250
    assert table.column("propensity").to_pylist() == [0.25] * 4 + [None]
    if suffix == ".parquet":
        assert pq.ParquetFile(path).metadata.num_row_groups == 3  # 2 + 2 + 1 rows


def test_a_full_buffer_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    log = AttemptLogWriter(tmp_path / "log.parquet", row_group_rows=2, max_buffered_rows=3)
    results = [log.append(*row(k)) for k in range(5)]  # type: ignore[arg-type]
    assert results == [True, True, True, False, False]
    assert log.dropped == 2 and log.pending == 3
    assert log.flush() == 3 and log.pending == 0
    assert log.append(*row(9))  # type: ignore[arg-type]
    log.close()
    assert read_attempt_log(tmp_path / "log.parquet").num_rows == 4


def test_appends_on_one_thread_and_flushes_on_another_lose_nothing(tmp_path: Path) -> None:
    log = AttemptLogWriter(
        tmp_path / "log.parquet", row_group_rows=100, max_buffered_rows=1_000_000
    )
    done = threading.Event()

    def flusher() -> None:
        while not done.is_set():
            log.flush()

    thread = threading.Thread(target=flusher)
    thread.start()
    for k in range(20_000):
        log.append(*row(k))  # type: ignore[arg-type]
    done.set()
    thread.join()
    log.close()
    table = read_attempt_log(tmp_path / "log.parquet")
    assert table.num_rows == 20_000 and log.dropped == 0
    assert sorted(table.column("payment_id").to_pylist()) == sorted(
        f"pay_{k}" for k in range(20_000)
    )


def test_a_bad_value_leaves_no_half_row(tmp_path: Path) -> None:
    log = AttemptLogWriter(tmp_path / "log.parquet")
    with pytest.raises(TypeError):
        log.append(*row(1, propensity="high"))  # type: ignore[arg-type]
    assert log.append(*row(2))  # type: ignore[arg-type]
    log.close()
    assert read_attempt_log(tmp_path / "log.parquet").num_rows == 1


def test_the_reader_refuses_other_versions_and_other_files(tmp_path: Path) -> None:
    path = tmp_path / "old.parquet"
    pq.write_table(pa.table({"t_s": [1.0]}).replace_schema_metadata({VERSION_KEY: b"0"}), path)
    with pytest.raises(AttemptLogError, match="schema version 0"):
        read_attempt_log(path)
    with pytest.raises(AttemptLogError, match="file not found"):
        read_attempt_log(tmp_path / "missing.parquet")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(AttemptLogError, match="not an attempt log CSV"):
        read_attempt_log(tmp_path / "x.csv")


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="engine"):
        AttemptLogWriter(tmp_path / "a.parquet", engine="both")
    with pytest.raises(ValueError, match="row_group_rows"):
        AttemptLogWriter(tmp_path / "a.parquet", row_group_rows=10, max_buffered_rows=5)

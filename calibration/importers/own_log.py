"""routelab's own attempt log (Parquet or CSV, :mod:`results.attempt_log`) as attempts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calibration.attempts import Attempts, Categorical, ImportReport
from calibration.importers.assemble import Options, attempts
from results.attempt_log import AttemptLogError, read_attempt_log
from scenarios.taxonomy import CODES

USED = (
    "t_s", "payment_id", "attempt", "network", "card_type", "issuer_country", "currency",
    "amount", "cross_border", "acquirer", "code", "latency_ms", "fee", "replication",
)  # fmt: skip


def import_attempt_log(path: Path, report: ImportReport, options: Options) -> Attempts | None:
    """Every row of the log; ``t_s`` is already on the scenario timeline."""
    try:
        table = read_attempt_log(path, USED)
    except AttemptLogError as exc:
        report.problems.append(str(exc))
        return None
    report.rows = table.num_rows
    if not table.num_rows:
        report.problem("", "no rows")
        return None
    code = Categorical.from_arrow(table.column("code"))
    unknown = sum(n for name, n in code.counts().items() if name not in CODES)
    if unknown:
        report.note(f"{unknown} attempts with codes the taxonomy does not know: kept as they are")
    replication = table.column("replication").to_numpy(zero_copy_only=False)
    payment = table.column("payment_id")
    if np.unique(replication).size > 1:
        # payment ids repeat across replications: keep each replication's payments apart
        payment = pc.binary_join_element_wise(
            pc.cast(table.column("replication"), pa.string()), payment, "/"
        )
    return attempts(
        report,
        np.ones(table.num_rows, dtype=bool),
        t_s=table.column("t_s").to_numpy(),
        payment=payment.combine_chunks() if isinstance(payment, pa.ChunkedArray) else payment,
        attempt=table.column("attempt").to_numpy(),
        acquirer=table.column("acquirer").combine_chunks(),
        network=table.column("network").combine_chunks(),
        card_type=table.column("card_type").combine_chunks(),
        issuer_country=table.column("issuer_country").combine_chunks(),
        currency=table.column("currency").combine_chunks(),
        amount=table.column("amount").to_numpy().astype(float),
        codes=np.array([*code.names, ""], dtype=object)[code.codes],
        latency_ms=table.column("latency_ms").to_numpy(),
        fee=table.column("fee").to_numpy(),
        merchant_country=options.merchant_country,
        cross_border=table.column("cross_border").to_numpy(zero_copy_only=False).astype(np.int8),
    )

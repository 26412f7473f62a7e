"""The run result layer both engines write and every report reads.

The result contract (``summary.json`` and its companion files), the one tally that
counts a run's payments whichever engine ran them, the latency histogram, the run's
identity and the statistics (intervals, paired differences). It imports only
``scenarios`` (and ``runtime.compiled``, the guard against stale compiled code): the
simulator, the live harness and the reports all stand on it.
"""

from runtime.compiled import ensure_fresh

ensure_fresh()  # first: no stale compiled module may load (runtime/compiled.py)

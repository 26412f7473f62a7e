from runtime.compiled import ensure_fresh

ensure_fresh()  # first: no stale compiled module may load (runtime/compiled.py)

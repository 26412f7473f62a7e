"""Process housekeeping shared by routelab's two long-running HTTP services.

The routing service (``router``) and the mock acquirers (``mock_acquirers``) both run
for as long as a load test needs them, keep a record per payment, and are started as
child processes by ``runtime.stack``. What they share as processes lives here, once:

- ``runtime.heap``: keeps garbage-collection pauses short while they hold many records;
- ``runtime.parent``: a child service shuts itself down, gracefully, when the process
  that started it dies without stopping it.

Imports nothing of ours, so either service may use it.
"""

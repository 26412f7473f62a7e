"""``python -m mock_acquirers``: serve a scenario's acquirers as mock HTTP APIs."""

import sys

from mock_acquirers.server import main

sys.exit(main())

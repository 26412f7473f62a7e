"""``python -m router``: serve the routing service for a scenario."""

import sys

from router.server import main

sys.exit(main())

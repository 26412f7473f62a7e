"""The mock's dialects by their scenario name: the one place a new dialect is registered.

The keys are the values ``Acquirer.dialect`` accepts (``scenarios/acquirers.py``); the
router registers its connectors by the same names (``router/app.py``). A test
(``tests/service/test_dialect_seam.py``) fails when the three disagree.
"""

from __future__ import annotations

from mock_acquirers.dialects.base import Dialect
from mock_acquirers.dialects.iso8583 import IsoDialect
from mock_acquirers.dialects.psp import PspDialect

DIALECTS: dict[str, type[Dialect]] = {
    IsoDialect.name: IsoDialect,
    PspDialect.name: PspDialect,
}

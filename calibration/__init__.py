"""Calibration: fit a runnable scenario from a PSP export or an attempt log.

``load_exports`` reads exports (routelab's attempt log, Hyperswitch, Stripe, Adyen, any
CSV with a column mapping) into attempts; ``calibrate`` fits a scenario to them, with
every number's interval, sample size and grade; ``write_report`` writes
calibration.html. ``routelab calibrate`` is these three in a row.
"""

from calibration.attempts import Attempts, ExportError, ImportReport
from calibration.calibrate import Calibration, calibrate
from calibration.importers import FORMATS, load_exports
from calibration.report import write_report

__all__ = [
    "FORMATS",
    "Attempts",
    "Calibration",
    "ExportError",
    "ImportReport",
    "calibrate",
    "load_exports",
    "write_report",
]

"""Calibration: fit a scenario from a PSP export or an attempt log."""

"""The acquirer API dialects the mock acquirers speak.

``mock_acquirers/dialects/base.py`` is the seam (the ``Dialect`` base class),
``iso8583.py`` and ``psp.py`` beside it are one dialect each, ``registry.py`` maps the
scenario's ``dialect`` names to them and ``checks.py`` holds the request field checks
the parsers share. Nothing is imported here, so that importing one of these modules
never drags in the others.
"""

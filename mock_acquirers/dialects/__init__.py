"""The acquirer API dialects the mock acquirers speak.

``base.py`` is the seam (:class:`~mock_acquirers.dialects.base.Dialect`), ``iso8583.py``
and ``psp.py`` one dialect each, ``registry.py`` maps the scenario's ``dialect`` names
to them, ``checks.py`` holds the request field checks the parsers share. (Nothing is
imported here, so importing one module never drags in the others.)
"""

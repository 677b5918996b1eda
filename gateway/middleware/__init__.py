"""Shared middleware: what happens to fetched values before they become files.

The value
stages (:mod:`.decode`, :mod:`.extract`, :mod:`.expand`) turn fetched values into
:class:`~.base.Piece` s; :mod:`.files` turns pieces into the final, checked file set.
Plugins may add value stages with ``gateway_register_middleware``.
"""

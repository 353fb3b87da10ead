"""The library's single exception type."""

from __future__ import annotations


class LRFinderError(ValueError):
    """A user-facing error: bad arguments, unreadable logs, a model not ready.

    Every error the library raises on purpose is of this type, with a message
    that names the bad argument, file or tag. It is a `ValueError`, so code
    that catches `ValueError` for bad arguments (as with Keras or optax)
    catches it too. Internal bugs surface as the usual Python exceptions.
    """

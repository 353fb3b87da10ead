"""The library's single exception type."""


class LRFinderError(Exception):
    """A user-facing error: bad arguments, unreadable logs, a model not ready.

    Every error the library raises on purpose is of this type, with a message
    that names the bad argument, file or tag.  Internal bugs surface as the
    usual Python exceptions.
    """

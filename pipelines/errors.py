"""The error types the command line and the dashboard turn into a one-line message."""


class LoadError(Exception):
    """A problem with the user's input or warehouse, explained in one line.

    The message names the file (and line, where there is one) and what is wrong.
    """


class AccessDenied(LoadError):
    """A report that the user's access scope does not cover (it spans every clinic)."""

"""The one error type the command line turns into a one-line message."""


class LoadError(Exception):
    """A problem with the user's input or warehouse, explained in one line.

    The message names the file (and line, where there is one) and what is wrong.
    """

"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class PoseforgeError(Exception):
    """A user-facing failure: bad input, a missing file, a check that did not hold."""

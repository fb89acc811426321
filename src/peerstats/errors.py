"""The one exception the command line turns into a single clear line and a non-zero exit."""


class PeerstatsError(Exception):
    """A failure the user can act on; its message is shown as it is, without a traceback."""

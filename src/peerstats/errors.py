"""The exceptions the command line turns into a single clear line and an exit code (see exits.py)."""


class PeerstatsError(Exception):
    """A failure the user can act on (exit 1); its message is shown as it is, without a traceback."""


class UsageProblem(PeerstatsError):
    """The command as typed cannot run (exit 2): a value out of range, options that exclude each
    other, more steps than there are, a destructive command without --yes and no terminal to ask on."""

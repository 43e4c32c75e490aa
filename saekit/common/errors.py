"""The one exception type saekit raises for bad input; the CLI turns it into exit code 2."""


class SaekitError(Exception):
    """A problem a user can act on: the message is one line naming what was wrong and what was expected."""

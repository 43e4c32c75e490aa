"""The one exception type the store raises for bad input or damaged files."""


class StoreError(Exception):
    """A store problem a user can act on: the message is one line naming what was wrong."""

"""Sub-commands of `localmarl` (being written)."""


def register(sub) -> None:
    """Add this module's sub-commands to the `localmarl` parser."""

"""Sub-commands of `localmarl` (being written)."""


def register(sub) -> None:
    """Add this module's sub-commands to the `localmarl` parser."""


def bench_training(args) -> int:
    raise SystemExit("localmarl bench --training: not available yet")

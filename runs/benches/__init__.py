"""Design-specific benchmarks (`localmarl bench --scenario ...`): each design names its own."""

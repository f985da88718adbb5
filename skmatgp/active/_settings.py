"""A campaign's choices and defaults, in a module that imports nothing heavy: the command
line's ``--help`` lists them without loading torch."""

STRATEGIES = ("entropy", "batch_entropy", "random", "ivr", "density_entropy", "kcenter", "lcmd", "kmeanspp")
N_REFERENCE = 500  # reference points for integrated variance reduction
REFIT_EVERY = 125  # the schedule of the active-learning study (benchmarks/RESULTS.md)
REPRESENTATIONS = ("foundation", "graph")

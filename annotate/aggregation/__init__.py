"""Pure NumPy/SciPy aggregation and label-quality maths for A/B judgments (no Django imports).

Label coding: 0 = a, 1 = b, 2 = tie, 3 = both_bad (see `labels`). Votes are
parallel int arrays `item`, `worker`, `label`.
"""

# Nothing is re-exported here: callers import the submodule they need
# (``from annotate.aggregation.labels import …``). Importing this package must stay cheap,
# because the import's record checks (``importing.checker``) import ``labels``; re-exporting every
# module here loaded SciPy (about 0.4 s and 60 MB) into every Django process.

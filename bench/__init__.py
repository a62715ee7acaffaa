"""seqcli's benchmarks: `python -m bench` runs the figures of a suite and writes one
results file per figure; `python -m bench.report` writes docs/RESULTS.md from them.

The measurement scripts (lm.py, ner.py, translate.py, ...) hold the figures' code;
figures.py says which of their functions each figure calls, and at which budget.
"""

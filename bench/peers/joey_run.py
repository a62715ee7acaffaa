"""Run Joey NMT 2.3.0 under torch 2.13, within a wall-clock budget.

    bench/envs/joeynmt/bin/python bench/peers/joey_run.py train CONFIG MINUTES
    bench/envs/joeynmt/bin/python bench/peers/joey_run.py test CONFIG

Runs in the bench-only environment `make bench-env` builds (Joey NMT is never a
dependency of seqcli). Joey NMT 2.3.0 was written for an older torch; three
workarounds make it run on 2.13, each applied here and nowhere else:

- torch.load now loads weights only by default, and Joey's checkpoints hold more
  than tensors: its calls get ``weights_only=False`` back;
- ReduceLROnPlateau lost its ``verbose`` argument, which Joey passes: dropped;
- for "relu", the activation of its recurrent decoder is built as the nn.ReLU
  class where a function is expected (called on a tensor, it fails): the
  configs use "tanh", the decoder's own default.

A training budget: Joey stops after a number of updates, not of minutes, so the
flag it checks after every update is raised once MINUTES have passed since the
first update, after a last validation. Joey NMT 2.3.0 also imports
importlib_metadata without declaring it: `make bench-env` installs it.
"""

import functools
import sys
import time

import torch
from torch.optim import lr_scheduler

torch.load = functools.partial(torch.load, weights_only=False)
_plateau_init = lr_scheduler.ReduceLROnPlateau.__init__


def _plateau_without_verbose(self, *args, verbose=None, **kwargs):
    _plateau_init(self, *args, **kwargs)


lr_scheduler.ReduceLROnPlateau.__init__ = _plateau_without_verbose


def _stop_after(minutes: float) -> None:
    """End training once `minutes` have passed since its first update, after one
    last validation (so that the weights at the end can be the best ones, as
    seqcli's --max-time run evaluates at its end)."""
    from joeynmt import training

    manager_cls = training.TrainManager
    state = {}
    train_and_validate = manager_cls.train_and_validate

    def keep_what_validation_needs(self, train_data, valid_data):
        state.update(manager=self, valid=valid_data)
        train_and_validate(self, train_data, valid_data)

    def get(self):
        if self.__dict__.get("_max_update"):
            return True
        started = state.setdefault("started", time.monotonic())
        if time.monotonic() - started < 60 * minutes:
            return False
        manager = state["manager"]
        if not state.get("validated") and manager.stats.steps % (
            manager.args.validation_freq
        ):
            state["valid"].seed = manager.seed + manager.stats.steps
            manager._validate(state["valid"])
        state["validated"] = True
        return True

    def set_(self, value):
        self.__dict__["_max_update"] = value

    manager_cls.train_and_validate = keep_what_validation_needs
    manager_cls.TrainStatistics.is_max_update = property(get, set_)


def main() -> None:
    mode, config = sys.argv[1], sys.argv[2]
    if mode == "train":
        _stop_after(float(sys.argv[3]))
    from joeynmt.__main__ import main as joey_main

    sys.argv = ["joeynmt", mode, config]
    joey_main()


if __name__ == "__main__":
    main()

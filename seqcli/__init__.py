"""seqcli: recurrent sequence models from the command line. Must not import torch."""

__version__ = "0.1.0"

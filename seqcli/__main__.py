"""`python -m seqcli` runs the command-line app. Must not import torch."""

from seqcli.cli import app

if __name__ == "__main__":
    app()

"""`python -m seqcli` runs the command-line app. Must not import torch."""

from seqcli.cli import main

if __name__ == "__main__":
    main()

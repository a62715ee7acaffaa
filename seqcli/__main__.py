"""`python -m seqcli` runs the command-line app. Must not import torch."""

import sys


def run() -> None:
    """Run the app; Ctrl-C at any moment, even while importing, exits quietly."""
    try:
        from seqcli.cli import main

        main()
    except KeyboardInterrupt:
        sys.exit(130)  # 128 + SIGINT, as a shell reports it; no traceback


if __name__ == "__main__":
    run()

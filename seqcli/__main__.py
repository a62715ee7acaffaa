"""`python -m seqcli` and the `seqcli` script: run the command-line app.

Standard output is guarded here, once for every command: a closed stdout is refused
before any work, and a write that fails (a full disk, an I/O error), in a command
or in the last flush, is one `error:` line and exit 2, not a traceback. A closed
pipe (`seqcli sample | head`) stays quiet. Must not import torch.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from seqcli.errors import OutputError


class GuardedStdout:
    """sys.stdout whose failed writes raise `OutputError`, which every command's
    error wrapper prints as one line; `failed` records that one did."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.failed = False

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            raise self._error(exc) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> OSError | OutputError:
        self.failed = True
        if isinstance(exc, BrokenPipeError):
            return exc  # the reader has gone: quiet, as before
        reason = (exc.strerror or str(exc)).lower()
        return OutputError(f"cannot write to stdout: {reason}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def run() -> None:
    """Run the app with stdout guarded; Ctrl-C at any moment, even while
    importing, exits quietly."""
    if sys.stdout is None:  # `>&-`: Python starts without a sys.stdout
        _report("cannot write to stdout: it is closed")
        sys.exit(2)
    guard = GuardedStdout(sys.stdout)
    sys.stdout = guard  # type: ignore[assignment]
    code: Any = 0
    try:
        from seqcli.cli import main

        main()
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        code = 130  # 128 + SIGINT, as a shell reports it; no traceback
    except OutputError as exc:  # a write outside a command (--help, --version)
        _report(str(exc))
        code = 2
    sys.exit(_flush(guard, code))


def _flush(guard: GuardedStdout, code: Any) -> Any:
    """Flush what the command left buffered; the exit code it ends with."""
    if not guard.failed:
        try:
            guard.flush()
        except OutputError as exc:
            _report(str(exc))
            code = 2
        except BrokenPipeError:
            pass
    if guard.failed:
        # What stays buffered would fail again in the interpreter's own flush at
        # exit ("Exception ignored ..."): let it go to /dev/null instead.
        try:
            fd = guard.stream.fileno()
        except (OSError, ValueError):  # not a real file: nothing flushes at exit
            return code
        from seqcli.outputs import discard_writes  # rare: kept off the start-up path

        discard_writes(fd)
    return code


def _report(message: str) -> None:
    from seqcli.cli._shared import print_error

    print_error(message)


if __name__ == "__main__":
    run()

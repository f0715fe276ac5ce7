"""Entry point: `mkdeck` and `python -m mkdeck`.

The command line is imported inside `run` so that Ctrl-C while the libraries load is an
ordinary interruption, not a traceback.
"""

import os
import signal
import sys

_signalled: list[int] = []


def _on_interrupt(signum: int, frame: object) -> None:
    _signalled.append(signum)
    if "mkdeck.sanitize" in sys.modules:  # (loaded already: no import in a signal handler)
        from . import sanitize

        if sanitize.calling_back:
            # Inside the sanitizer, whose native code would print the interruption and go
            # on: held, and raised by `sanitize.clean` when it returns.
            sanitize.interrupted = True
            return
    raise KeyboardInterrupt


def run() -> None:
    # Ctrl-C is remembered as well as raised: one that lands while a C extension initialises
    # (`import ssl`, under genanki) surfaces as some other error ("TypeError: expected a message
    # argument"), which is an interruption all the same.
    signal.signal(signal.SIGINT, _on_interrupt)
    try:
        from .cli import main

        main()
    except SystemExit as exc:  # how click ends every command
        _exit(exc.code)
    except KeyboardInterrupt:
        _interrupted()
    except Exception as exc:
        # Ctrl-C inside a `with` block can surface as the error its cleanup raises next
        # (zipfile refuses to close a half-written member): still an interruption.
        if _signalled or _caused_by_interrupt(exc):
            _interrupted()
        raise


def _exit(code: str | int | None) -> None:
    """End the process as `sys.exit(code)` would, without taking the interpreter apart: what
    a command wrote is flushed and every exit handler runs, but the hundreds of modules a
    build loads are not freed one by one (a tenth of a command that finds nothing changed).
    Only when this is the last thread running: otherwise Python's own exit waits for the
    others, as it should."""
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a reader that went away (`| head`), a closed stream
        pass
    os._exit(code or 0)


def _caused_by_interrupt(exc: BaseException | None) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _interrupted() -> None:
    print("mkdeck: interrupted; nothing was changed", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
    run()

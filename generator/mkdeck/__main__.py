"""Entry point: `mkdeck` and `python -m mkdeck`.

The command line is imported inside `run` so that Ctrl-C while the libraries load is an
ordinary interruption, not a traceback.
"""

import signal
import sys

_signalled: list[int] = []


def _on_interrupt(signum: int, frame: object) -> None:
    _signalled.append(signum)
    raise KeyboardInterrupt


def run() -> None:
    # Ctrl-C is remembered as well as raised: one that lands while a C extension initialises
    # (`import ssl`, under genanki) surfaces as some other error ("TypeError: expected a message
    # argument"), which is an interruption all the same.
    signal.signal(signal.SIGINT, _on_interrupt)
    try:
        from .cli import main

        main()
    except KeyboardInterrupt:
        _interrupted()
    except Exception as exc:
        # Ctrl-C inside a `with` block can surface as the error its cleanup raises next
        # (zipfile refuses to close a half-written member): still an interruption.
        if _signalled or _caused_by_interrupt(exc):
            _interrupted()
        raise


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

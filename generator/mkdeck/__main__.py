"""Entry point: `mkdeck` and `python -m mkdeck`.

The command line is imported inside `run` so that Ctrl-C while the libraries load is an
ordinary interruption, not a traceback.
"""

import sys


def run() -> None:
    try:
        from .cli import main

        main()
    except KeyboardInterrupt:
        print("mkdeck: interrupted; nothing was changed", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()

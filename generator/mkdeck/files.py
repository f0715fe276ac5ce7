"""Writing files so that nothing is ever half-written, and naming new ones without clobbering.

A file mkdeck writes (the package, the lock) appears under its final name only when complete:
it is written to a temporary file beside it and renamed over it. A build killed outright
(SIGKILL, power loss) cannot clean up its temporary file, so the next write does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


def atomic_write(
    path: Path,
    write: Callable[[Path], object],
    clean: bool = True,
    before: Callable[[], object] | None = None,
) -> None:
    """Call `write(temporary path)`, then rename the temporary file to `path`.

    `clean`: first remove temporaries a killed run left beside `path` (False when the caller
    did, and has made temporaries of its own since). `before` runs when the file is complete
    and before it takes its place: if it fails, `path` is left as it was.
    """
    tmp: Path | None = None
    try:
        if clean:
            remove_stale_temporaries(path)
        tmp = written_beside(path, write)
        with _named(path):
            if before is not None:
                before()
            os.replace(tmp, path)
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def written_beside(path: Path, write: Callable[[Path], object]) -> Path:
    """A temporary file next to `path`, filled by `write(its path)`, to take the place of
    `path` when the caller renames it there (a killed run's is removed by the next write)."""
    with _named(path):
        tmp = temporary_beside(path, "")
        try:
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; these files are not
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return tmp


@contextlib.contextmanager
def _named(path: Path) -> Iterator[None]:
    """An error writing a temporary file for `path`, or its folder, names `path`: the file it
    is for."""
    try:
        yield
    except OSError as exc:
        said_of = str(exc.filename or "")
        temporary = os.path.basename(said_of).startswith(f".{path.name}.")
        if not said_of or temporary or said_of == str(path.parent):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def temporary_beside(path: Path, suffix: str) -> Path:
    """A fresh temporary file next to `path`, removed by the next `atomic_write` if left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # only a build that writes needs it

    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f"{suffix}.tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def remove_stale_temporaries(target: Path) -> None:
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def user_cache() -> Path:
    """mkdeck's folder in the user's cache (`$XDG_CACHE_HOME/mkdeck`, else `~/.cache/mkdeck`):
    what builds remember, outside every project."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    return (Path(base) if base else Path.home() / ".cache") / "mkdeck"


def place_in_cache(kind: str, path: Path) -> Path:
    """A place of its own in the user's cache for what mkdeck keeps about `path` (a package's
    memo, a cards folder's build lock), named by a hash of where `path` is."""
    key = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:24]
    return user_cache() / kind / key


def stamp(path: Path) -> tuple[int, int]:
    """Size and modification time in ns; (-1, -1) for a file that is not there."""
    try:
        stat = path.stat()
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def unique_name(stem: str, suffix: str, taken: Iterable[str]) -> str:
    """`stem.md`, else `stem-2.md`, `stem-3.md`, … whichever is not taken."""
    used = set(taken)
    name, n = f"{stem}{suffix}", 2
    while name in used:
        name, n = f"{stem}-{n}{suffix}", n + 1
    return name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def held_alone(path: Path, timeout: float) -> Iterator[None]:
    """Hold a lock on the file `path` while the block runs, waiting up to `timeout` seconds
    for another process that holds it (raises `TimeoutError`; `OSError` when the file cannot
    be made). The system lets go of the lock when the process ends, however it ends, so a run
    that was killed never leaves it held.

    On POSIX this is `flock`, as filelock does it there; filelock itself loads a dozen modules
    (14 ms, more than a build that finds nothing changed spends on its work), so it is asked
    only where there is no `fcntl` (Windows)."""
    try:
        import fcntl
    except ImportError:
        from filelock import FileLock, Timeout

        held = FileLock(path, timeout=timeout)
        try:
            held.acquire()
        except Timeout as exc:
            raise TimeoutError(f"{path} is held by another process") from exc
        try:
            yield
        finally:
            held.release()
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{path} is held by another process") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # and with it the lock


def is_zip(path: Path) -> bool:
    """Whether the file starts as a zip archive does (a package; a file of any other kind is
    not one mkdeck may write over). The first bytes tell, without loading `zipfile`."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")  # a member, or an empty archive
    except OSError:
        return False

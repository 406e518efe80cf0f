"""Crash-safe file writes, bounded file reads and file hashes.

Every artifact is written to a temporary file beside its destination, fsynced
and moved into place with os.replace, so a crash never leaves a half-written
file under the final name. Every file the tool reads from a user goes through
`open_regular`: a regular file only (a FIFO, a device or a directory is
refused before a byte is read, so nothing can hang or stream forever), of a
capped size, and inside a run no symlink is followed.

May import: errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import IO, Any, Callable

from rnn_recipes.errors import RunError, UserError


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary path beside `path`, fsync it, then move it into place."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:  # a full disk or a vanished directory: one line, not a traceback
        raise RunError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry, not only the file, reaches the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_regular(
    path: Path, limit: int, *, what: str = "file", error: type[UserError] = RunError, follow: bool = True
) -> IO[bytes]:
    """Open `path` for reading, refusing anything but a regular file of at most `limit` bytes.

    The file is opened with O_NONBLOCK, so a FIFO or a device returns at once
    and is refused by fstat instead of blocking; `follow=False` refuses a
    symlink (a run's files are its own, never a link out of it).

    Args:
        path: the file.
        limit: the most bytes it may hold; checked before reading.
        what: names the file in the message ("model file", "corpus").
        error: the UserError subclass raised.
        follow: whether a symlink is followed.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as exc:
        if not follow and os.path.islink(path):
            raise error(f"{path}: {what} is a symlink; refused (a run's files must be its own)") from None
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "directory" if stat.S_ISDIR(st.st_mode) else "FIFO" if stat.S_ISFIFO(st.st_mode) else "device or special file"
            raise error(f"{path}: {what} is a {kind}, not a regular file; refused")
        if st.st_size > limit:
            raise error(f"{path}: {what} is {st.st_size:,} bytes, more than the {limit:,} allowed; refused")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(
    path: Path, limit: int, *, what: str = "file", error: type[UserError] = RunError, follow: bool = True
) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (see `open_regular`); never more are read."""
    with open_regular(path, limit, what=what, error=error, follow=follow) as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as exc:  # EIO from a failing disk
            raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:  # it grew after the size check
        raise error(f"{path}: {what} is more than the {limit:,} bytes allowed; refused")
    return data


def read_text_bounded(
    path: Path, limit: int, *, what: str = "file", error: type[UserError] = RunError, follow: bool = True
) -> str:
    """`read_bounded`, decoded as UTF-8 with a one-line error for other encodings."""
    data = read_bounded(path, limit, what=what, error=error, follow=follow)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not UTF-8 text (byte {exc.start}); refused") from None


def sha256_regular(path: Path, limit: int, *, what: str = "file", error: type[UserError] = RunError) -> str:
    """sha256 of a regular, non-symlink file of at most `limit` bytes, read in blocks."""
    h = hashlib.sha256()
    n = 0
    with open_regular(path, limit, what=what, error=error, follow=False) as fh:
        try:
            for block in iter(lambda: fh.read(1 << 20), b""):
                n += len(block)
                if n > limit:
                    raise error(f"{path}: {what} is more than the {limit:,} bytes allowed; refused")
                h.update(block)
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return h.hexdigest()

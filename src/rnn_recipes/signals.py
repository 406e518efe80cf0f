"""SIGINT/SIGTERM during training: an interrupt handler, and a deferral while a checkpoint is written.

The handler calls `interrupt(signum)`, which raises the exception that ends
training (see rundir.open_run). Inside `deferred_signals()` a signal is held
and acted on when the block ends, so a checkpoint or the swap of a finished
run is never cut in half.

May import: nothing of the project.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator


class _Deferral:
    depth = 0
    pending: int | None = None
    handler: Callable[[int], None] | None = None


_deferral = _Deferral()


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while a checkpoint is written, and act on them right after."""
    _deferral.depth += 1
    try:
        yield
    finally:
        _deferral.depth -= 1
    if _deferral.depth == 0 and _deferral.pending is not None and _deferral.handler is not None:
        signum, _deferral.pending = _deferral.pending, None
        _deferral.handler(signum)


@contextmanager
def signals_interrupt(interrupt: Callable[[int], None], hold: Callable[[], bool]) -> Iterator[None]:
    """Route SIGINT/SIGTERM to `interrupt(signum)` inside the block; restore the old handlers after.

    Args:
        interrupt: called with the signal number; it raises to stop the work, or returns to let it go on.
        hold: while it returns True (as well as inside `deferred_signals`), a signal waits.
    """
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield
        return

    def handler(signum, frame) -> None:
        if _deferral.depth or hold():
            _deferral.pending = signum
        else:
            interrupt(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    _deferral.handler, _deferral.pending = interrupt, None
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _deferral.handler, _deferral.pending = None, None

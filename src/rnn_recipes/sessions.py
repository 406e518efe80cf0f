"""Stateful sessions: a run's recurrent state kept between requests, so each new token costs one step.

A session holds the text received so far, the ids of its tokens that can no
longer change, and the `Engine` state after reading them. A new piece of text
is cut into ids with the run's own codec (`SessionReader.ids`, what `rnn
predict` uses) and only the new ids are stepped. The last token of a text may
still grow ("goo" -> "good"), so it is stepped on a copy of the state for
each answer and kept out of the carried state until text follows it.

An answer equals what the Keras model gives for the whole text because the
readout repeats what the model saw around it:
- padding after the text (`post`) without a mask: the padding zeros are
  stepped on the copy too (so the answer costs the padding's steps);
- padding before the text with a mask (`mask_zero`): Keras skips it, so the
  state after the text is the model's; without a mask the zeros come first,
  which stepping cannot do: such runs refuse sessions (`session_refusal`);
- a text longer than the window: cut at its end (`truncating: post`), the
  extra tokens change nothing; cut at its start (`pre`), the session refuses
  to grow past the window;
- language models (`window=None`) carry the state across any length, as
  `rnn generate --mode stateful` does; up to `seq_length` tokens this equals
  `rnn predict`, beyond it `predict` re-reads only the last `seq_length`.

`SessionStore` bounds sessions in number, age (time since last use) and
size, and gives each a lock: two requests on one session wait for each other
(at most `lock_timeout` seconds); requests on different sessions never do.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from rnn_recipes.engine import Engine, sample
from rnn_recipes.errors import UserError


class SessionError(UserError):
    """A session request that cannot be served; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SessionReader:
    """How a run's text becomes the ids its model reads, and what surrounds them in a model input.

    Attributes:
        ids: the whole text -> its ids, by the run's codec (may raise a `UserError`).
        window: the model input's length; None for a language model, which carries its state.
        padding: "pre" or "post": where the zeros of a short text go.
        truncating: "pre" or "post": which end of a long text is cut.
        masked: whether the model skips padding (`encoding.mask_zero`).
        final: whether a token is final once read (characters); words may still grow.
        limit: the most tokens a session may hold (a language model's bound; a classifier's is its window).
    """

    ids: Callable[[str], list[int]]
    window: int | None
    padding: str = "post"
    truncating: str = "post"
    masked: bool = False
    final: bool = False
    limit: int = 2_048


def session_refusal(engine: Engine | None, reader: SessionReader | None) -> str | None:
    """Why a run cannot keep sessions (one line), or None when it can."""
    if engine is None or reader is None:
        return "this run reads numbers or a CSV, not text; sessions read text a piece at a time"
    if engine.bidirectional:
        return ("its model is bidirectional: each answer reads the text backwards from its end, "
                "so a new token cannot be one more step; use /predict")
    if reader.window is not None and reader.padding == "pre" and not reader.masked:
        return ("it pads short texts before the text without a mask (data.padding: pre, no encoding.mask_zero), "
                "so every new token changes what the model reads first; use /predict")
    return None


@dataclass
class Session:
    """One client's text so far and the recurrent state after it; use only while holding `lock`."""

    id: str
    engine: Engine
    reader: SessionReader
    state: list
    text: str = ""
    committed: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # every id of `text` the model reads, the last one maybe still growing
    steps: int = 0  # recurrent steps taken on the carried state, for the one-step-per-token check
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _read(self, text: str) -> list[int]:
        ids = self.reader.ids(text)
        window = self.reader.window
        if window is not None and len(ids) > window:
            if self.reader.truncating == "pre":
                raise SessionError(
                    f"the session's text has {len(ids)} tokens; this run keeps only the last {window} of a longer "
                    f"text (data.truncating: pre), which a session cannot do one step at a time; open a new session",
                    413,
                )
            ids = ids[:window]  # the model never reads the rest
        if len(ids) > self.reader.limit:
            raise SessionError(f"the session's text has {len(ids)} tokens; a session holds at most {self.reader.limit}", 413)
        return ids

    def _advance(self, state: list, ids: list[int]) -> list:
        for token in ids:
            state = self.engine.advance(token, state)
        return state

    def feed(self, piece: str, max_chars: int) -> np.ndarray:
        """Append `piece`, step its new tokens, and return the model's output after the whole text.

        Nothing changes when the piece is refused.
        """
        text = self.text + piece
        if len(text) > max_chars:
            raise SessionError(f"the session's text would have {len(text):,} characters; a session holds at most {max_chars:,}", 413)
        ids = self._read(text)
        final = ids if self.reader.final else ids[:-1]
        state, committed = self.state, self.committed
        if ids[: len(committed)] != committed:  # a token it held changed (a cut word grew): read again
            state, committed = self.engine.zero_state(), []
        if len(final) > len(committed):
            state = self._advance(state, final[len(committed):])
            self.steps += len(final) - len(committed)
            committed = list(final)
        self.state, self.committed, self.text, self.ids = state, committed, text, ids
        return self.output()

    def output(self) -> np.ndarray:
        """The model's output after the text so far: the carried state, plus the last token and padding on a copy."""
        state = self._advance(self.state, self.ids[len(self.committed):])
        r = self.reader
        if r.window is not None and r.padding == "post" and not r.masked:
            state = self._advance(state, [0] * (r.window - len(self.ids)))
        return self.engine.readout(state)

    def continue_text(self, length: int, decode: Callable[[int], str], *, temperature: float, top_k: int | None,
                      rng: np.random.Generator, max_chars: int) -> Iterator[str]:
        """Generate `length` tokens after the text so far, each one step, each appended to the session as it comes."""
        if self.reader.window is not None:
            raise SessionError("this run classifies text; only a language model's session can continue it", 400)
        if len(self.ids) + length > self.reader.limit:
            raise SessionError(f"the session holds {len(self.ids)} tokens; {length} more would pass its bound of {self.reader.limit}", 413)
        self.state = self._advance(self.state, self.ids[len(self.committed):])
        self.steps += len(self.ids) - len(self.committed)
        self.committed = list(self.ids)
        return self._continue(length, decode, temperature, top_k, rng, max_chars)

    def _continue(self, length, decode, temperature, top_k, rng, max_chars) -> Iterator[str]:
        for _ in range(length):
            token = sample(self.engine.readout(self.state), temperature, top_k, rng)
            piece = decode(token)
            if len(self.text) + len(piece) > max_chars:
                return
            self.state = self.engine.advance(token, self.state)
            self.steps += 1
            self.committed.append(token)
            self.ids = list(self.committed)
            self.text += piece
            yield piece

    def nbytes(self) -> int:
        """What the session holds, roughly: its state, its text and its ids."""
        state = sum(a.nbytes for layer in self.state for a in layer)
        return state + len(self.text.encode("utf-8")) + 8 * (len(self.ids) + len(self.committed))


@dataclass(frozen=True)
class Limits:
    """The bounds of a `SessionStore`.

    Attributes:
        max_sessions: open sessions at once; one more is refused (429) until one closes or expires.
        ttl: seconds a session lives after its last use.
        max_chars: characters of text one session holds.
        max_tokens: tokens one language-model session holds.
        lock_timeout: seconds a request waits for another on the same session.
    """

    max_sessions: int = 256
    ttl: float = 600.0
    max_chars: int = 16_384
    max_tokens: int = 2_048
    lock_timeout: float = 5.0


class SessionStore:
    """Open sessions by id, bounded in number, age and size; expired ones are dropped as new requests come."""

    def __init__(self, engine: Engine, reader: SessionReader, limits: Limits = Limits(),
                 clock: Callable[[], float] = time.monotonic):
        self.engine, self.reader, self.limits, self.clock = engine, reader, limits, clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()  # guards the dict only; each session has its own lock

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self) -> None:
        now = self.clock()
        for sid, s in list(self._sessions.items()):
            if now - s.last_used > self.limits.ttl and s.lock.acquire(blocking=False):
                try:
                    del self._sessions[sid]
                finally:
                    s.lock.release()

    def open(self) -> Session:
        """A new empty session, or `SessionError` (429) when `max_sessions` are open."""
        with self._lock:
            self._expire()
            if len(self._sessions) >= self.limits.max_sessions:
                raise SessionError(f"{len(self._sessions)} sessions are open, the most this server keeps; "
                                   f"close one (DELETE /sessions/ID) or wait for one to expire", 429)
            sid = secrets.token_urlsafe(16)
            session = Session(sid, self.engine, self.reader, self.engine.zero_state(), last_used=self.clock())
            self._sessions[sid] = session
            return session

    def _get(self, sid: str) -> Session:
        with self._lock:
            self._expire()
            session = self._sessions.get(sid)
        if session is None:
            raise SessionError(f"no session {sid[:64]!r}: it was never opened, was closed, or expired "
                               f"after {self.limits.ttl:g} s unused; open one with POST /sessions", 404)
        return session

    def acquire(self, sid: str) -> Session:
        """The session `sid`, locked for the caller (release with `release`); 404 unknown, 409 busy."""
        session = self._get(sid)
        if not session.lock.acquire(timeout=self.limits.lock_timeout):
            raise SessionError(f"session {sid!r} is busy with another request for over {self.limits.lock_timeout:g} s", 409)
        if self._sessions.get(sid) is not session:  # closed while this request waited
            session.lock.release()
            raise SessionError(f"no session {sid!r}: it was closed", 404)
        return session

    def release(self, session: Session) -> None:
        """Mark `session` used now and unlock it."""
        session.last_used = self.clock()
        session.lock.release()

    def close(self, sid: str) -> None:
        """Forget the session `sid` (404 when unknown); a request running on it finishes first."""
        session = self.acquire(sid)
        try:
            with self._lock:
                self._sessions.pop(sid, None)
        finally:
            session.lock.release()

    def nbytes(self) -> int:
        """What the open sessions hold, roughly."""
        with self._lock:
            return sum(s.nbytes() for s in self._sessions.values())

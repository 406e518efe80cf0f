"""Stateful sessions: the answer after each piece equals the Keras model on the whole text; the store's bounds."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from conftest import TINY
from rnn_recipes.sessions import Limits, SessionError, SessionReader, SessionStore, session_refusal

WORDS = "the film was not good but the cast was great and i would watch it again".split()


def word_ids(text: str) -> list[int]:
    """A word-level codec for tests: START (1), then each word's rank + 3 (OOV 2), as IMDB's."""
    return [1] + [WORDS.index(w) + 3 if w in WORDS else 2 for w in text.split()]


def pieces(text: str, cuts=(3, 9, 14, 22, 31, 40, 52)) -> list[str]:
    """`text` cut mid-word, as someone typing sends it."""
    bounds = [0, *[c for c in cuts if c < len(text)], len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


# --- against the Keras model ----------------------------------------------------------


def keras_engine(sets: list[str], base: str = "imdb_embedding_lstm"):
    from rnn_recipes.config_load import load_config
    from rnn_recipes.dataset import DataSpec
    from rnn_recipes.engine import Engine
    from rnn_recipes.model import build_model

    cfg = load_config(TINY / f"{base}.yaml", ["data.maxlen=12", "data.num_words=40", *sets])
    model = build_model(cfg, DataSpec("binary", cfg.data.maxlen, vocab_size=cfg.data.num_words))
    d = cfg.data
    masked = cfg.encoding.kind == "embedding" and cfg.encoding.mask_zero
    reader = SessionReader(word_ids, d.maxlen, d.padding, d.truncating, masked)
    return model, Engine(model), reader


def padded(ids: list[int], maxlen: int, padding: str, truncating: str) -> np.ndarray:
    ids = ids[-maxlen:] if truncating == "pre" else ids[:maxlen]
    row = np.zeros(maxlen, np.int32)
    if padding == "pre":
        row[maxlen - len(ids):] = ids
    else:
        row[: len(ids)] = ids
    return row


@pytest.mark.parametrize("base, sets", [
    ("imdb_embedding_lstm", ["data.padding=pre"]),  # the masked embedding: padding skipped
    ("imdb_embedding_lstm", ["data.padding=post", "model.cell=gru"]),
    ("imdb_embedding_lstm", ["encoding.mask_zero=false", "data.padding=post", "model.cell=simple_rnn", "model.layers=2"]),
    ("imdb_integer_simple_rnn", []),  # the seed's: ids as numbers, padding after the text, read
    ("imdb_onehot_bigru", ["model.bidirectional=false", "data.padding=post", "model.dense_units=4"]),
    ("imdb_embedding_lstm", ["data.padding=post", "data.truncating=post"]),  # past the window: the rest is cut
])
def test_a_session_answers_what_the_keras_model_answers_on_the_whole_text(base, sets):
    model, engine, reader = keras_engine(sets, base)
    store = SessionStore(engine, reader)
    assert session_refusal(engine, reader) is None
    session = store.open()
    text = "the film was not good but the cast was great and i would watch"
    if "data.truncating=post" not in sets:
        text = " ".join(text.split()[:10])  # within the window of 12 (START included)
    seen = ""
    for piece in pieces(text):
        got = session.feed(piece, max_chars=1000)
        seen += piece
        row = padded(word_ids(seen), reader.window, reader.padding, reader.truncating)
        want = model.predict(row[None], verbose=0)[0]
        np.testing.assert_allclose(got, want, atol=2e-6)
    # each token was stepped once into the carried state (the last, maybe still growing, on a copy)
    assert session.steps == min(len(word_ids(text)), reader.window) - 1


def test_runs_whose_next_token_cannot_be_one_step_refuse_sessions_with_the_reason():
    _, engine, reader = keras_engine(["model.bidirectional=true"])
    assert "bidirectional" in session_refusal(engine, reader)
    _, engine, reader = keras_engine(["encoding.mask_zero=false", "data.padding=pre"])
    assert "data.padding: pre, no encoding.mask_zero" in session_refusal(engine, reader)
    assert "not text" in session_refusal(None, None)


def test_a_session_refuses_to_grow_past_a_window_that_keeps_the_end():
    _, engine, reader = keras_engine(["encoding.mask_zero=true", "data.truncating=pre"])
    session = SessionStore(engine, reader).open()
    session.feed("the film was not good but the cast was great and", max_chars=1000)  # START + 11 words = 12
    before = (session.text, list(session.committed), session.steps)
    with pytest.raises(SessionError, match="keeps only the last 12") as info:
        session.feed(" again", max_chars=1000)
    assert info.value.status == 413
    assert (session.text, session.committed, session.steps) == before  # a refused piece changes nothing


# --- the store, with an engine that counts ------------------------------------------------


class CountingEngine:
    """One float of state: the sum of the ids read; `advance` counts its calls."""

    bidirectional = False

    def __init__(self):
        self.calls = 0

    def zero_state(self):
        return [(np.zeros(1, np.float32),)]

    def advance(self, token, state):
        self.calls += 1
        return [(state[0][0] + token,)]

    def readout(self, state):
        return state[-1][0].copy()


def char_store(limits=Limits(), clock=None, limit=64):
    engine = CountingEngine()
    reader = SessionReader(lambda text: [ord(c) for c in text], None, final=True, limit=limit)
    return engine, SessionStore(engine, reader, limits, **({"clock": clock} if clock else {}))


def test_each_new_token_costs_one_step_and_sessions_are_isolated():
    engine, store = char_store()
    a, b = store.open(), store.open()
    assert a.id != b.id
    a.feed("ab", 100)
    assert engine.calls == 2
    assert a.feed("c", 100)[0] == sum(map(ord, "abc")) and engine.calls == 3
    assert b.feed("z", 100)[0] == ord("z")
    assert a.text == "abc" and b.text == "z"


def test_sessions_expire_after_their_ttl_and_unknown_ones_are_404():
    now = [0.0]
    _, store = char_store(Limits(ttl=10), clock=lambda: now[0])
    sid = store.open().id
    now[0] = 9.0
    store.release(store.acquire(sid))  # a use renews it
    now[0] = 18.0
    store.release(store.acquire(sid))
    now[0] = 28.5
    with pytest.raises(SessionError, match="expired after 10 s unused") as info:
        store.acquire(sid)
    assert info.value.status == 404 and len(store) == 0


def test_the_number_of_sessions_and_what_each_holds_are_bounded():
    _, store = char_store(Limits(max_sessions=3, max_chars=50), limit=40)
    sessions = [store.open() for _ in range(3)]
    with pytest.raises(SessionError, match="3 sessions are open") as info:
        store.open()
    assert info.value.status == 429
    for s in sessions:
        s.feed("x" * 40, 50)
        with pytest.raises(SessionError, match="at most 40") as info:
            s.feed("y", 50)
        assert info.value.status == 413
    with pytest.raises(SessionError, match="at most 50"):
        sessions[0].feed("z" * 20, 50)
    # the most the store can hold: 3 sessions x (state + 40 characters + their ids)
    assert store.nbytes() <= 3 * (4 + 40 + 8 * 2 * 40)
    store.close(sessions[0].id)
    assert store.open().text == ""  # a closed one makes room


def test_a_busy_session_makes_a_second_request_wait_a_bounded_time():
    _, store = char_store(Limits(lock_timeout=0.05))
    session = store.acquire(store.open().id)
    result = []
    thread = threading.Thread(target=lambda: result.append(pytest.raises(SessionError, store.acquire, session.id)))
    thread.start()
    thread.join(5)
    assert result and result[0].value.status == 409
    store.release(session)
    store.release(store.acquire(session.id))


def test_a_word_that_grows_is_stepped_on_a_copy_until_text_follows_it():
    engine = CountingEngine()
    reader = SessionReader(word_ids, None)
    session = SessionStore(engine, reader).open()
    session.feed("the go", 100)  # START, the: carried; "go" (OOV) on a copy
    assert session.committed == [1, 3] and session.ids == [1, 3, 2]
    session.feed("od", 100)  # "good" replaces "go" at no cost to the carried state
    assert session.committed == [1, 3] and session.ids == [1, 3, WORDS.index("good") + 3]
    session.feed(" cast", 100)
    assert session.committed == [1, 3, WORDS.index("good") + 3] and session.steps == 3

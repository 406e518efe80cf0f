"""A finished run loaded once to answer many requests: what `rnn serve`'s routes call, without HTTP.

`load_served(run)` reads the run once: its predictor (`predict.py`) or a
series run's forecaster (`forecast.py`), a text run's generator
(`generate.py`), and a session store (`sessions.py`) where the run's model
can be stepped a token at a time, or the reason it cannot. `predict`,
`feed` and `show` are the routes' work; a request that cannot be served
raises `RequestError` with its HTTP status.
"""

from __future__ import annotations

import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from rnn_recipes import tasks
from rnn_recipes.data import task_name
from rnn_recipes.engine import Engine
from rnn_recipes.errors import UserError
from rnn_recipes.sessions import Limits, SessionReader, SessionStore, session_refusal

MODEL_WAIT = 30.0  # seconds a request waits for the model before a 503
TAGGED_REFUSAL = ("it tags every token, and a later token can change the tags before it (a bidirectional layer, "
                  "a CRF's best path), so a piece of text cannot be one more step; use /predict")
SEQ2SEQ_REFUSAL = ("it decodes an output from the whole source, and a piece more of the source can change every "
                   "output token, so a piece of text cannot be one more step; use /predict")


class RequestError(UserError):
    """A request the server refuses; `status` is its HTTP status."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass
class Served:
    """A finished run ready to answer: its predictor (or forecaster), its generator, its sessions."""

    path: Path
    kind: str
    task: tasks.Task
    window: int | None
    predictor: object = None  # predict.Predictor
    forecaster: object = None  # forecast.load_forecaster's function
    generator: object = None  # generate.TextGenerator
    store: SessionStore | None = None
    refusal: str | None = None
    # one model call at a time: a Keras predict function is not meant to run in two threads at once
    model_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def locked(self):
        """Hold the model for one call; a wait over `MODEL_WAIT` seconds is a 503."""
        if not self.model_lock.acquire(timeout=MODEL_WAIT):
            raise RequestError(f"the model has been busy for over {MODEL_WAIT:g} s; try again", 503)
        try:
            yield
        finally:
            self.model_lock.release()


def _reader(run, predictor, limits: Limits) -> SessionReader:
    d = run.config.data
    if d.kind == "text":
        return SessionReader(predictor.ids, None, final=d.level == "char", limit=limits.max_tokens)
    window = d.maxlen if d.kind == "imdb" else d.seq_length
    masked = run.config.encoding.kind == "embedding" and run.config.encoding.mask_zero
    return SessionReader(predictor.ids, window, d.padding, d.truncating, masked, limit=max(window, limits.max_tokens))


def load_served(run_dir: Path, limits: Limits = Limits()) -> Served:
    """Read a finished run once: its predictor or forecaster, its `Engine` and session store where it can keep them."""
    from rnn_recipes.runs import load_run

    from rnn_recipes.predict import PREDICTORS, SEQ2SEQ_KINDS, unsupported

    run = load_run(Path(run_dir))
    kind = run.config.data.kind
    if kind != "series" and kind not in PREDICTORS:
        raise UserError(unsupported(run_dir, kind, "rnn serve", ["series", *PREDICTORS]))
    task = tasks.get(task_name(run.config))
    window = {"imdb": "maxlen", "text": "seq_length", "labelled_text": "seq_length"}.get(kind, "time_steps")
    served = Served(Path(run_dir), kind, task, getattr(run.config.data, window, None))
    if kind == "series":
        from rnn_recipes.forecast import load_forecaster

        served.forecaster = load_forecaster(run_dir)
        served.refusal = session_refusal(None, None)
        return served
    from rnn_recipes.predict import load_predictor

    served.predictor = load_predictor(run_dir)
    if kind == "text":
        from rnn_recipes.generate import load_generator

        served.generator = load_generator(Path(run_dir))
        engine = served.generator.engine
    elif served.predictor.ids is not None:
        try:
            engine = Engine(run.load_model())
        except UserError as exc:
            engine, served.refusal = None, f"its model cannot be stepped: {exc}"
    else:
        engine = None
    reader = _reader(run, served.predictor, limits) if served.predictor.ids is not None else None
    if kind == "tagged":
        served.refusal = TAGGED_REFUSAL
    elif kind in SEQ2SEQ_KINDS:
        served.refusal = SEQ2SEQ_REFUSAL
    served.refusal = served.refusal or session_refusal(engine, reader)
    if served.refusal is None:
        served.store = SessionStore(engine, reader, limits)
    return served


def warm_up(served: Served) -> None:
    """One prediction at start, so the first request does not pay for tracing the model."""
    p = served.predictor
    if p is None:
        return
    if p.reads == "values":
        sample = [[0.0] * served.window]
    elif served.kind == "text":
        vocab = [t for t in p.labels if t.strip()] or p.labels
        sep = "" if served.generator.data.level == "char" else " "
        sample = [sep.join(vocab[i % len(vocab)] for i in range(served.window))]
    else:
        sample = ["good"]
    try:
        for batch in (sample, sample * 2):
            p.outputs(batch)
        if p.ids is not None:  # a session's first piece of text: the vectorizer's trace
            p.ids(sample[0])
    except UserError:
        pass


def store_of(served: Served) -> SessionStore:
    """The run's session store, or a 400 that says why the run keeps none."""
    if served.store is None:
        raise RequestError(f"this {served.kind} run cannot keep sessions: {served.refusal}", 400)
    return served.store


def generator_of(served: Served):
    """The text run's generator, or a 400 for runs that do not generate."""
    if served.generator is None:
        raise RequestError(f"this is a {served.kind} run; /generate needs a language model (a run of data.kind: text)", 400)
    return served.generator


def predict(served: Served, texts: Sequence[str] | None, values: Sequence[Sequence[float]] | None,
            csv: str | None, *, top_k: int = 5, detail: bool = False) -> list[dict]:
    """One presented result per input, as `rnn predict --json` gives them (or a series run's forecast rows)."""
    if csv is not None:
        if served.forecaster is None:
            raise RequestError(f'this is a {served.kind} run: it predicts from "{reads(served)}", not "csv"')
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "rows.csv"
            path.write_text(csv, encoding="utf-8")
            try:
                with served.locked():
                    return served.forecaster(path)
            except UserError as exc:
                raise RequestError(str(exc).replace(str(path), "csv")) from None
    given = "values" if values is not None else "texts"
    if given != reads(served):
        raise RequestError(f'this is a {served.kind} run: it predicts from "{reads(served)}", not "{given}"')
    from rnn_recipes.predict import predict_run

    for i, text in enumerate(texts or ()):
        if not text.strip():  # what `rnn predict` refuses too
            raise RequestError(f"texts.{i}: empty text; expected some text to predict from")
    with served.locked():
        return list(predict_run(served.predictor, texts, values, top_k=top_k, detail=detail))


def reads(served: Served) -> str:
    """The /predict body key the run reads: "texts", "values" or "csv"."""
    if served.predictor is None:
        return "csv"
    return "values" if served.predictor.reads == "values" else "texts"


def feed(served: Served, sid: str, text: str, *, top_k: int = 5, detail: bool = False) -> dict:
    """Append `text` to session `sid` and answer the prediction after the whole text so far."""
    store = store_of(served)
    session = store.acquire(sid)
    try:
        output = session.feed(text, store.limits.max_chars)
        prediction = (served.task.present(output, labels=served.predictor.labels, top_k=top_k, detail=detail)
                      if session.ids else None)
        return {"session": sid, "tokens": len(session.ids), "steps": session.steps, "prediction": prediction}
    finally:
        store.release(session)


def show(served: Served, sid: str) -> dict:
    """Session `sid`'s text so far, its tokens and the recurrent steps it took."""
    store = store_of(served)
    session = store.acquire(sid)
    try:
        return {"session": sid, "text": session.text, "tokens": len(session.ids), "steps": session.steps}
    finally:
        store.release(session)

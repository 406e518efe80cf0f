"""`rnn serve`: a finished run behind an HTTP JSON API (FastAPI on uvicorn), with stateful sessions.

Routes:
- `GET /health`: `{"status": "ok"}`.
- `GET /info`: the run, what it reads, which routes it serves, the limits.
- `POST /predict`: `{"texts": [...]}`, `{"values": [[...], ...]}` (sine runs) or
  `{"csv": "..."}` (series runs) -> `{"predictions": [...]}`, each as `rnn predict
  --json` prints it (`predict.predict_run`, `forecast.load_forecaster`).
- `POST /generate` (text runs): `{"seed": "hel", "length": 20, ...}` -> one JSON
  line per token as it is produced (`{"token": "l"}`), then `{"done": true, "tokens": n}`.
- `POST /sessions` opens a session (`sessions.py`); `POST /sessions/ID/text`
  feeds it a piece of text and answers the prediction after the whole text;
  `POST /sessions/ID/generate` continues a language model's text, streamed as
  `/generate`; `GET /sessions/ID` shows it; `DELETE /sessions/ID` closes it.

Every refusal is a 4xx with `{"error": "one line"}`: malformed JSON 400, a wrong
field 422, a body over `max_body` bytes 413, an unknown session 404, a busy one
409, too many sessions 429. The server binds to 127.0.0.1 unless told otherwise.

Example:
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_app("runs/reviews_lstm-..."))  # doctest: +SKIP
    >>> client.post("/predict", json={"texts": ["Great boots."]}).json()  # doctest: +SKIP
    {'predictions': [{'label': 'positive', 'probability': 0.93}]}
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Literal, Optional

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from rnn_recipes import served as run_api
from rnn_recipes.errors import UserError
from rnn_recipes.generate import check_settings
from rnn_recipes.served import RequestError, Served, generator_of, load_served, reads, store_of
from rnn_recipes.sessions import Limits, SessionStore

log = logging.getLogger("rnn_recipes.serve")

MAX_BODY = 1_048_576  # bytes of one request body
MAX_BATCH = 256  # inputs of one /predict request
MAX_TEXT = 100_000  # characters of one text
MAX_VALUES = 100_000  # numbers of one window


# --- request bodies ----------------------------------------------------------------

Text = Annotated[str, Field(max_length=MAX_TEXT)]
TopK = Annotated[int, Field(ge=1, le=100_000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PredictBody(_Body):
    texts: Optional[Annotated[list[Text], Field(min_length=1, max_length=MAX_BATCH)]] = None
    values: Optional[Annotated[list[Annotated[list[FiniteFloat], Field(min_length=1, max_length=MAX_VALUES)]],
                               Field(min_length=1, max_length=MAX_BATCH)]] = None
    csv: Optional[Annotated[str, Field(min_length=1)]] = None
    top_k: TopK = 5
    detail: bool = False

    @model_validator(mode="after")
    def _one_input(self):
        given = [k for k in ("texts", "values", "csv") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f'give exactly one of "texts", "values" or "csv"; received {", ".join(given) or "none"}')
        return self


class Sampling(_Body):
    length: Annotated[int, Field(ge=1)] = 200
    temperature: FiniteFloat = 1.0
    top_k: Optional[Annotated[int, Field(ge=1)]] = None
    rng_seed: Optional[Annotated[int, Field(ge=0, lt=2**63)]] = None


class GenerateBody(Sampling):
    seed: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    mode: Literal["auto", "stateful", "window"] = "auto"


class SessionText(_Body):
    text: Text = ""
    top_k: TopK = 5
    detail: bool = False


# --- the app -----------------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    from rnn_recipes.safeyaml import one_line

    message = one_line(message)
    return JSONResponse({"error": message if len(message) <= 2_000 else message[:2_000] + "..."}, status_code=status)


def _validation_message(exc: ValidationError) -> tuple[int, str]:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return 400, f"malformed JSON: {first['msg']}; expected a JSON object"
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if first["type"] == "model_type" or not where:
        return 422, f"{first['msg']}; expected a JSON object{more}"
    return 422, f"{where}: {first['msg']}{more}"


async def _body(request: Request, model: type[BaseModel], max_body: int) -> BaseModel:
    """The request body read with a size cap and checked against `model`."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise RequestError(f"Content-Length {declared[:40]!r} is not a number of bytes", 400)
    if declared is not None and int(declared) > max_body:
        raise RequestError(f"the body has {declared} bytes; the most this server reads is {max_body:,}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise RequestError(f"the body passes {max_body:,} bytes, the most this server reads", 413)
        chunks.append(chunk)
    try:
        return model.model_validate_json(b"".join(chunks) or (b"{}" if model is SessionText else b""))
    except ValidationError as exc:
        raise RequestError(*reversed(_validation_message(exc))) from None


def _lines(pieces, done: dict):
    """NDJSON: one `{"token": piece}` line per piece as it comes, then the `done` line."""
    n = 0
    for piece in pieces:
        n += 1
        yield json.dumps({"token": piece}) + "\n"
    yield json.dumps({**done, "done": True, "tokens": n}) + "\n"


def create_app(run_dir: Path | str, limits: Limits = Limits(), *, max_body: int = MAX_BODY, warm: bool = True) -> FastAPI:
    """The FastAPI app serving `run_dir` (read once, here).

    Args:
        run_dir: a finished run directory.
        limits: the sessions' bounds (count, age, size, lock wait); `max_tokens` also caps /generate's length.
        max_body: the most bytes a request body may have.
        warm: make one prediction first, so the first request is as fast as the rest.
    """
    served = load_served(Path(run_dir), limits)
    if warm:
        run_api.warm_up(served)
    app = FastAPI(title="rnn serve", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.served = served

    @app.exception_handler(UserError)
    async def _user_error(request, exc: UserError):
        return _error(getattr(exc, "status", 422), str(exc))

    @app.exception_handler(HTTPException)
    async def _http_error(request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _request_error(request, exc: RequestValidationError):
        return _error(422, str(exc.errors()[0].get("msg", "invalid request")))

    @app.exception_handler(Exception)
    async def _bug(request, exc: Exception):  # logged with its traceback; the client sees one line
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); this is a bug, please report it")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/info")
    def info():
        p = served.predictor
        return {
            "run": str(served.path), "kind": served.kind, "task": served.task.name,
            "reads": reads(served), "window": served.window,
            "labels": None if p is None or served.kind == "text" else p.labels,
            "vocab_size": len(p.labels) if p is not None and served.kind == "text" else None,
            "generate": served.generator is not None,
            "sessions": {"available": served.store is not None, "reason": served.refusal,
                         "open": len(served.store) if served.store else 0,
                         "max_sessions": limits.max_sessions, "ttl_s": limits.ttl,
                         "max_chars": limits.max_chars, "max_tokens": limits.max_tokens},
            "limits": {"max_body": max_body, "max_batch": MAX_BATCH, "max_text": MAX_TEXT},
        }

    @app.post("/predict")
    async def predict(request: Request):
        body = await _body(request, PredictBody, max_body)
        return {"predictions": await run_in_threadpool(
            lambda: run_api.predict(served, body.texts, body.values, body.csv, top_k=body.top_k, detail=body.detail))}

    @app.post("/generate")
    async def generate(request: Request):
        body = await _body(request, GenerateBody, max_body)
        g = generator_of(served)
        _check_sampling(body, limits, mode=body.mode)
        ids = g.seed_ids(body.seed)
        pieces = g.stream(ids, body.length, temperature=body.temperature, top_k=body.top_k,
                          rng_seed=body.rng_seed, mode=body.mode)
        return StreamingResponse(_lines(pieces, {}), media_type="application/x-ndjson")

    @app.post("/sessions", status_code=201)
    async def open_session(request: Request):
        body = await _body(request, SessionText, max_body)
        store = store_of(served)
        session = store.open()
        try:
            return await run_in_threadpool(_feed, served, session.id, body)
        except UserError:
            store.close(session.id)  # a session whose first text is refused is not left open
            raise

    @app.post("/sessions/{sid}/text")
    async def feed(sid: str, request: Request):
        body = await _body(request, SessionText, max_body)
        return await run_in_threadpool(_feed, served, sid, body)

    @app.get("/sessions/{sid}")
    async def show(sid: str):
        return await run_in_threadpool(run_api.show, served, sid)

    @app.delete("/sessions/{sid}")
    async def close(sid: str):
        await run_in_threadpool(store_of(served).close, sid)
        return {"closed": sid}

    @app.post("/sessions/{sid}/generate")
    async def continue_session(sid: str, request: Request):
        body = await _body(request, Sampling, max_body)
        g = generator_of(served)
        _check_sampling(body, limits)
        store = store_of(served)
        session = await run_in_threadpool(store.acquire, sid)
        try:
            pieces = session.continue_text(
                body.length, g.codec.decode_token, temperature=body.temperature, top_k=body.top_k,
                rng=np.random.default_rng(body.rng_seed), max_chars=limits.max_chars)
        except BaseException:
            store.release(session)
            raise
        return StreamingResponse(_held(_lines(pieces, {"session": sid}), store, session), media_type="application/x-ndjson")

    return app


def _held(lines, store: SessionStore, session):
    """Stream `lines` while holding the session's lock, released however the stream ends."""
    try:
        yield from lines
    finally:
        store.release(session)


def _feed(served: Served, sid: str, body: SessionText) -> dict:
    return run_api.feed(served, sid, body.text, top_k=body.top_k, detail=body.detail)


def _check_sampling(body: Sampling, limits: Limits, mode: str = "auto") -> None:
    if body.length > limits.max_tokens:
        raise RequestError(f"length: {body.length} tokens asked; this server generates at most {limits.max_tokens:,} a request", 422)
    check_settings(length=body.length, temperature=body.temperature, top_k=body.top_k, rng_seed=body.rng_seed, mode=mode)


def serve_run(run_dir: Path, host: str = "127.0.0.1", port: int = 8000, limits: Limits = Limits(),
              log_level: str = "warning") -> None:
    """Serve `run_dir` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(run_dir, limits), host=host, port=port, log_level=log_level, access_log=False)


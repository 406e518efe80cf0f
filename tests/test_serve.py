"""`rnn serve`: the HTTP API answers as `rnn predict` does, streams generation, keeps sessions, refuses with 4xx."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import numpy as np
import pytest

from conftest import ROOT

WORD_INDEX = ROOT / "tests" / "data" / "imdb_word_index_tiny.json"
REVIEW = "Great boots, still going strong after two winters. Would buy again!"


@pytest.fixture(scope="module")
def word_index(tmp_path_factory):
    """Keras' IMDB word index as the tiny test copy, so IMDB runs read English without a download."""
    import rnn_recipes.imdb_text as imdb_text

    home = tmp_path_factory.mktemp("keras-home")
    (home / "datasets").mkdir()
    (home / "datasets" / "imdb_word_index.json").write_bytes(WORD_INDEX.read_bytes())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_HOME", str(home))
        mp.setattr(imdb_text, "KERAS_MD5", hashlib.md5(WORD_INDEX.read_bytes()).hexdigest())
        yield


@pytest.fixture(scope="module")
def clients(tiny_runs, word_index):
    """A TestClient per tiny run, each app built on first use."""
    from fastapi.testclient import TestClient

    from rnn_recipes.serve import create_app

    class Clients(dict):
        def __missing__(self, name):
            self[name] = TestClient(create_app(tiny_runs[name]))
            return self[name]

    return Clients()


def lines(response) -> list[dict]:
    return [json.loads(line) for line in response.iter_lines() if line]


def test_serve_refuses_a_directory_that_is_not_a_run_in_one_line(cli, tmp_path):
    result = cli("serve", tmp_path / "missing")
    assert result.exit_code == 2 and result.output.startswith("error: ") and len(result.output.splitlines()) == 1
    help_text = cli("serve", "--help").output
    assert "127.0.0.1" in help_text and "--port" in help_text


@pytest.mark.slow
def test_rnn_serve_binds_to_loopback_unless_told_otherwise(cli, tiny_runs, monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    assert cli("serve", tiny_runs["sine_simple_rnn"]).exit_code == 0
    assert cli("serve", tiny_runs["sine_simple_rnn"], "--host", "0.0.0.0", "--port", "0", "--max-sessions", "3").exit_code == 0
    assert [(kw["host"], kw["port"]) for _, kw in calls] == [("127.0.0.1", 8000), ("0.0.0.0", 0)]
    assert calls[1][0].state.served.kind == "sine"


# --- /health, /info, /predict for every task kind --------------------------------------------


@pytest.mark.slow
def test_health_and_info_describe_the_run(clients, tiny_runs):
    client = clients["reviews_lstm"]
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["run"] == str(tiny_runs["reviews_lstm"]) and info["kind"] == "labelled_text"
    assert info["task"] == "multiclass" and info["reads"] == "texts" and info["window"] == 24
    assert info["generate"] is False and info["sessions"]["available"] is True


@pytest.mark.slow
@pytest.mark.parametrize("run, body", [
    ("reviews_lstm", {"texts": [REVIEW, "Fell apart in a week.", "ok"], "detail": True}),  # multiclass labelled text
    ("imdb_embedding_lstm", {"texts": ["a great film with a fine cast", "bad"]}),  # binary IMDB ids
    ("text_char_lstm", {"texts": ["the gradient flows back through time"], "top_k": 3}),  # next token
    ("sine_simple_rnn", {"values": [np.sin(np.arange(12)).round(4).tolist(), np.cos(np.arange(10)).tolist()]}),
])
def test_predict_answers_what_rnn_predict_answers(clients, tiny_runs, run, body):
    from rnn_recipes.predict import predict_run

    response = clients[run].post("/predict", json=body)
    assert response.status_code == 200, response.text
    extra = {k: body[k] for k in ("top_k", "detail") if k in body}
    inputs = {"values": body["values"]} if "values" in body else {"texts": body["texts"]}
    want, got = list(predict_run(tiny_runs[run], **inputs, **extra)), response.json()["predictions"]
    if "values" in body:  # a forecast is one float: the server's request thread may round its last bit otherwise
        assert [set(p) for p in got] == [set(p) for p in want] == [{"value"}] * len(want)
        assert [p["value"] for p in got] == pytest.approx([p["value"] for p in want], rel=1e-6)
    else:
        assert got == want


@pytest.mark.slow
def test_predict_on_a_sine_run_equals_the_keras_model(clients, tiny_runs):
    from rnn_recipes.safeload import load_model_file

    window = np.sin(np.arange(10, dtype="float32") / 3)
    got = clients["sine_simple_rnn"].post("/predict", json={"values": [window.tolist()]}).json()["predictions"][0]["value"]
    want = load_model_file(tiny_runs["sine_simple_rnn"] / "model.keras").predict(window[None, :, None], verbose=0)[0, 0]
    assert got == pytest.approx(float(want), abs=1e-6)


@pytest.mark.slow
def test_predict_on_a_series_run_forecasts_a_csv_as_rnn_predict_csv(clients, tiny_runs, tmp_path):
    from rnn_recipes.forecast import predict_csv

    rows = (ROOT / "configs" / "data" / "sunspots.csv").read_text(encoding="utf-8").splitlines()
    csv = "\n".join(rows[:1] + rows[-30:]) + "\n"
    (tmp_path / "recent.csv").write_text(csv)
    response = clients["series_sunspots_gru"].post("/predict", json={"csv": csv})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == predict_csv(tiny_runs["series_sunspots_gru"], tmp_path / "recent.csv")
    short = clients["series_sunspots_gru"].post("/predict", json={"csv": "\n".join(rows[:4])})
    assert short.status_code == 422 and "csv has 3 rows" in short.json()["error"]


# --- /generate ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_generate_streams_one_line_per_token_as_rnn_generate_does(clients, tiny_runs):
    from rnn_recipes.generate import generate_from_run

    with clients["text_char_lstm"].stream("POST", "/generate", json={"seed": "the ", "length": 12, "temperature": 0}) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        got = lines(r)
    assert got[-1] == {"done": True, "tokens": 12}
    assert "".join(g["token"] for g in got[:-1]) == "".join(generate_from_run("the ", tiny_runs["text_char_lstm"], length=12, temperature=0))


# --- sessions ---------------------------------------------------------------------------------------


def feed_in_pieces(client, text: str, cut: int = 7) -> tuple[str, list[dict]]:
    opened = client.post("/sessions", json={})
    assert opened.status_code == 201, opened.text
    sid = opened.json()["session"]
    answers = []
    for i in range(0, len(text), cut):
        r = client.post(f"/sessions/{sid}/text", json={"text": text[i : i + cut], "detail": True})
        assert r.status_code == 200, r.text
        answers.append(r.json())
    return sid, answers


@pytest.mark.slow
@pytest.mark.parametrize("run, text", [
    ("reviews_lstm", REVIEW),
    ("imdb_embedding_lstm", "a great film with a fine cast and a story i liked"),
])
def test_a_sessions_prediction_after_each_piece_equals_predict_on_the_text_so_far(clients, run, text):
    client = clients[run]
    sid, answers = feed_in_pieces(client, text)
    for n, answer in enumerate(answers, start=1):
        whole = client.post("/predict", json={"texts": [text[: 7 * n]], "detail": True}).json()["predictions"][0]
        assert answer["prediction"]["label"] == whole["label"]
        for label, p in whole["probabilities"].items():
            assert answer["prediction"]["probabilities"][label] == pytest.approx(p, abs=1e-5)
    assert answers[-1]["steps"] == answers[-1]["tokens"] - 1  # one step per token; the last on a copy
    assert client.get(f"/sessions/{sid}").json()["text"] == text
    assert client.delete(f"/sessions/{sid}").json() == {"closed": sid}
    assert client.post(f"/sessions/{sid}/text", json={"text": "x"}).status_code == 404


@pytest.mark.slow
def test_a_language_model_session_predicts_and_continues_from_its_state(clients, tiny_runs):
    from rnn_recipes.generate import generate_from_run

    client = clients["text_char_lstm"]
    text = "the gradient flows b"  # seq_length characters: what `rnn predict` reads
    sid, answers = feed_in_pieces(client, text, cut=6)
    whole = client.post("/predict", json={"texts": [text]}).json()["predictions"][0]["top"]
    assert [t["token"] for t in answers[-1]["prediction"]["top"]] == [t["token"] for t in whole]
    assert [t["probability"] for t in answers[-1]["prediction"]["top"]] == pytest.approx([t["probability"] for t in whole], abs=1e-5)
    assert answers[-1]["steps"] == len(text)
    with client.stream("POST", f"/sessions/{sid}/generate", json={"length": 10, "temperature": 0}) as r:
        got = lines(r)
    assert got[-1] == {"session": sid, "done": True, "tokens": 10}
    continued = "".join(g["token"] for g in got[:-1])
    assert continued == "".join(generate_from_run(text, tiny_runs["text_char_lstm"], length=10, temperature=0, mode="stateful"))
    shown = client.get(f"/sessions/{sid}").json()
    assert shown["text"] == text + continued and shown["steps"] == len(text) + 10
    other_sid, _ = feed_in_pieces(client, "zzz")  # a second session starts from nothing
    assert client.get(f"/sessions/{other_sid}").json()["text"] == "zzz"


@pytest.mark.slow
def test_a_word_level_session_steps_a_growing_word_on_a_copy_and_equals_predict(clients):
    client = clients["text_word_gru"]
    text = "the gradient of the loss with"  # seq_length (6) words, sent cut mid-word
    sid, answers = feed_in_pieces(client, text, cut=4)
    whole = client.post("/predict", json={"texts": [text]}).json()["predictions"][0]["top"]
    assert [t["token"] for t in answers[-1]["prediction"]["top"]] == [t["token"] for t in whole]
    assert [t["probability"] for t in answers[-1]["prediction"]["top"]] == pytest.approx([t["probability"] for t in whole], abs=1e-5)
    assert answers[-1]["tokens"] == 6 and answers[-1]["steps"] == 5  # "with" may still grow: not carried yet


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("run, method, path, body, status, message", [
    ("reviews_lstm", "post", "/predict", b'{"texts": ["a"', 400, "malformed JSON"),
    ("reviews_lstm", "post", "/predict", b"", 400, "malformed JSON"),
    ("reviews_lstm", "post", "/predict", b"[1, 2]", 422, "expected a JSON object"),
    ("reviews_lstm", "post", "/predict", {"texts": "one text"}, 422, "texts: Input should be a valid array"),
    ("reviews_lstm", "post", "/predict", {"texts": [1]}, 422, "texts.0: Input should be a valid string"),
    ("reviews_lstm", "post", "/predict", {"texts": ["a"], "topk": 3}, 422, "topk: Extra inputs are not permitted"),
    ("reviews_lstm", "post", "/predict", {"texts": ["a"] * 257}, 422, "at most 256 items"),
    ("reviews_lstm", "post", "/predict", {"texts": [" "]}, 422, "empty text"),
    ("reviews_lstm", "post", "/predict", {"values": [[0.1]]}, 422, 'predicts from "texts", not "values"'),
    ("reviews_lstm", "post", "/predict", {"texts": ["a"], "csv": "x"}, 422, "exactly one of"),
    ("reviews_lstm", "post", "/predict", b'{"texts": ["' + b"a" * 1_100_000 + b'"]}', 413, "the most this server reads"),
    ("reviews_lstm", "post", "/generate", {"seed": "a"}, 400, "needs a language model"),
    ("reviews_lstm", "post", "/sessions/nope/text", {"text": "a"}, 404, "no session 'nope'"),
    ("reviews_lstm", "delete", "/sessions/nope", None, 404, "no session 'nope'"),
    ("reviews_lstm", "get", "/nowhere", None, 404, "Not Found"),
    ("sine_simple_rnn", "post", "/sessions", {}, 400, "cannot keep sessions: this run reads numbers"),
    ("sine_simple_rnn", "post", "/predict", {"values": [[0.1, 0.2]]}, 422, "a window of 10"),
    ("sine_simple_rnn", "post", "/predict", b'{"values": [[NaN]]}', 422, "finite number"),
    ("text_char_lstm", "post", "/generate", {"seed": "the", "length": 5000}, 422, "at most 2,048"),
    ("text_char_lstm", "post", "/generate", {"seed": "the", "temperature": -1}, 422, "--temperature must be 0"),
    ("text_char_lstm", "post", "/generate", {"seed": "\u2603"}, 422, "not in the vocabulary"),
    ("text_char_lstm", "post", "/sessions", {"text": "\u2603"}, 422, "not in the vocabulary"),
    ("text_char_lstm", "post", "/predict", {"texts": ["short"]}, 422, "this run reads 20"),
])
def test_bad_requests_get_a_4xx_with_one_line(clients, run, method, path, body, status, message):
    client = clients[run]
    kwargs = {"content": body} if isinstance(body, bytes) else {} if body is None else {"json": body}
    response = client.request(method.upper(), path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error


@pytest.mark.slow
def test_a_refused_first_text_leaves_no_session_open(clients):
    client = clients["text_char_lstm"]
    before = client.get("/info").json()["sessions"]["open"]
    assert client.post("/sessions", json={"text": "\u2603"}).status_code == 422
    assert client.get("/info").json()["sessions"]["open"] == before


# --- the fuzz: malformed bodies never reach a 5xx ------------------------------------------------


@pytest.mark.slow
def test_malformed_bodies_never_get_a_5xx(clients):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=12,
    )
    keys = st.sampled_from(["texts", "values", "csv", "top_k", "detail", "seed", "length", "temperature",
                            "rng_seed", "mode", "text", "session"])
    bodies = (st.binary(max_size=200)
              | json_values.map(lambda v: json.dumps(v).encode())
              | st.dictionaries(keys, json_values, max_size=4).map(lambda v: json.dumps(v).encode()))
    from urllib.parse import quote

    paths = (st.sampled_from(["/predict", "/generate", "/sessions", "/sessions/x/text", "/sessions/x/generate"])
             | st.text(max_size=30).map(lambda sid: f"/sessions/{quote(sid, safe='')}/text"))
    for run in ("reviews_lstm", "text_char_lstm"):
        client = clients[run]
        sid = client.post("/sessions", json={}).json()["session"]

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(path=paths, body=bodies)
        def fuzz(path, body):
            response = client.post(path.replace("/x/", f"/{sid}/"), content=body)
            assert response.status_code < 500, (path, body, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}

        fuzz()


# --- a real server on a port ------------------------------------------------------------------


@pytest.mark.slow
def test_uvicorn_serves_the_app_on_loopback(tiny_runs):
    import httpx
    import uvicorn

    from rnn_recipes.serve import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(tiny_runs["sine_simple_rnn"]), host="127.0.0.1", port=0,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 60 s"
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        assert host == "127.0.0.1"
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as http:
            assert http.get("/health").json() == {"status": "ok"}
            assert http.post("/predict", json={"values": [[0.0] * 10]}).status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)
    assert not thread.is_alive()


def test_the_load_test_counts_every_answer_and_every_5xx():
    from benchmarks.serve import load

    answers = iter(range(10**6))
    result = load("http://127.0.0.1:9", lambda http: 500 if next(answers) % 4 == 0 else 200, clients=2, seconds=0.2)
    assert result["n"] > 0 and result["5xx"] == (result["n"] + 3) // 4 and result["p50"] <= result["p99"]


# --- the newer kinds: tagged (a tag per token), timing (values in, a class out), seq2seq (a text out) ------------------------


@pytest.mark.slow
@pytest.mark.parametrize("run, body, reads, reason", [
    ("ner_bilstm", {"texts": ["Peter Blackburn visited the European Commission in Brussels.", "ok"]}, "texts",
     "a later token can change the tags before it"),
    ("timing_lstm", {"values": [[0.0, 1.0, 0.0, 0.0, 0.0, 1.0] + [0.0] * 10, [0.1] * 20], "detail": True}, "values",
     "this run reads numbers or a CSV, not text"),
    ("seq2seq_dates", {"texts": ["25 Nov 2026", "3 March 1999"]}, "texts", "it decodes an output from the whole source"),
])
def test_tagged_and_timing_runs_predict_as_rnn_predict_and_refuse_sessions_with_a_reason(clients, tiny_runs, run, body,
                                                                                        reads, reason):
    from rnn_recipes.predict import predict_run

    client = clients[run]
    info = client.get("/info").json()
    assert info["kind"] == {"ner_bilstm": "tagged", "timing_lstm": "timing", "seq2seq_dates": "pairs"}[run]
    assert info["reads"] == reads
    assert info["sessions"]["available"] is False and reason in info["sessions"]["reason"]
    response = client.post("/predict", json=body)
    assert response.status_code == 200, response.text
    inputs = {reads: body[reads]}
    expected = json.loads(json.dumps(list(predict_run(tiny_runs[run], **inputs, detail=body.get("detail", False)))))
    assert response.json()["predictions"] == expected and len(expected) == 2
    refused = client.post("/sessions", json={"text": "Peter"})
    assert refused.status_code == 400 and reason in refused.json()["error"] and "\n" not in refused.json()["error"]
    if run == "ner_bilstm":
        tokens = expected[0]["tokens"]
        assert [t["token"] for t in tokens][:2] == ["Peter", "Blackburn"] and info["labels"] == sorted(info["labels"])
    elif run == "seq2seq_dates":
        assert all(p["output"] and isinstance(p["score"], float) for p in expected)
    else:
        assert info["labels"] == ["gap 3", "gap 4", "gap 5", "gap 6"] and info["window"] == 16
        wrong = client.post("/predict", json={"texts": ["1 0 1"]})
        assert wrong.status_code == 422 and 'predicts from "values", not "texts"' in wrong.json()["error"]


@pytest.mark.slow
def test_a_run_of_a_kind_not_handled_yet_is_refused_in_one_line_by_export_predict_and_serve(tiny_runs, monkeypatch):
    import importlib

    from rnn_recipes.errors import UserError
    from rnn_recipes.serve import create_app

    export, predict = importlib.import_module("rnn_recipes.export"), importlib.import_module("rnn_recipes.predict")
    run = tiny_runs["sine_simple_rnn"]
    monkeypatch.delitem(export.PLANS, "sine")  # what a kind added after these commands meets (seq2seq's pairs)
    monkeypatch.delitem(predict.PREDICTORS, "sine")
    for call, command in ((lambda: export.export_run(run, "onnx"), "rnn export"),
                          (lambda: predict.load_predictor(run), "rnn predict"), (lambda: create_app(run), "rnn serve")):
        with pytest.raises(UserError) as info:
            call()
        assert str(info.value).startswith(f"{run} is a sine run, which {command} does not handle yet; it ")
        assert "\n" not in str(info.value)
    assert not (run.parent / f"{run.name}-export").exists()

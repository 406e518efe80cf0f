"""Load test of `rnn serve` over loopback: N concurrent clients for a bounded time per route.

    python -m benchmarks.serve [--run RUN] [--lm-run RUN] [--clients 4] [--seconds 10]

Without --run / --lm-run, configs/tiny/reviews_lstm.yaml (a classifier) and
configs/tiny/text_char_lstm.yaml (a character language model) are trained
into a temporary directory first. Each run is served by `rnn serve` in its
own process on 127.0.0.1 (a free port), and the clients (threads, one
keep-alive connection each) run in this process. Rows:

- /predict, batch 1 (one short review) and batch 32, one client and N;
- a session fed one word per request (live sentiment as someone types);
- /generate streaming 200 tokens: per-token latency is the gap between
  consecutive token lines as the client receives them.

Each row: requests (or tokens) per second, p50 and p99 latency, and the
count of 5xx answers (must be 0). The server's resident memory is read
before and after the load (Linux /proc) to show it stays bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHORT = "Great boots, still going strong."


def train_tiny(name: str, out: Path) -> Path:
    from rnn_recipes.config_load import load_config
    from rnn_recipes.train import train

    return train(load_config(ROOT / "configs" / "tiny" / f"{name}.yaml"), out / name, verbose=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`rnn serve RUN` in a child process, waited for (bounded) until /health answers."""

    def __init__(self, run: Path, wait: float = 180.0):
        import httpx

        self.port = free_port()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT / "src")}
        self.proc = subprocess.Popen([sys.executable, "-m", "rnn_recipes", "serve", str(run), "--port", str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"rnn serve {run} exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"rnn serve {run} did not answer /health within {wait:g} s")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def load(url: str, request, clients: int, seconds: float) -> dict:
    """`clients` threads each calling `request(http)` until `seconds` pass; latencies in ms."""
    import httpx

    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while True:  # at least one request per client, however short the time
                start = time.perf_counter()
                status = request(http)
                latencies[i].append((time.perf_counter() - start) * 1e3)
                errors[i] += status >= 500
                if time.monotonic() >= stop:
                    break

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.perf_counter() - began
    flat = np.concatenate([np.asarray(x) for x in latencies])
    return {"n": len(flat), "per_s": len(flat) / elapsed, "p50": float(np.percentile(flat, 50)),
            "p99": float(np.percentile(flat, 99)), "5xx": sum(errors)}


def predict_request(texts: list[str]):
    body = {"texts": texts}
    return lambda http: http.post("/predict", json=body).status_code


def session_request():
    words = (SHORT + " The soles held up on ice and the stitching never frayed. ").split()
    state = threading.local()

    def request(http) -> int:
        if getattr(state, "sid", None) is None or state.n >= 20:  # a fresh session every 20 words
            r = http.post("/sessions", json={})
            if r.status_code != 201:
                return r.status_code
            state.sid, state.n = r.json()["session"], 0
        state.n += 1
        return http.post(f"/sessions/{state.sid}/text", json={"text": words[state.n % len(words)] + " "}).status_code

    return request


def token_gaps(url: str, clients: int, seconds: float, length: int) -> dict:
    """Per-token latency of /generate: the gaps between token lines, all clients together."""
    import httpx

    gaps: list[float] = []
    tokens, errors = [0], [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while time.monotonic() < stop:
                mine = []
                with http.stream("POST", "/generate", json={"seed": "the ", "length": length, "temperature": 0.8}) as r:
                    if r.status_code >= 500:
                        errors[0] += 1
                        continue
                    last = time.perf_counter()
                    for line in r.iter_lines():
                        now = time.perf_counter()
                        if line and "token" in json.loads(line):
                            mine.append((now - last) * 1e3)
                        last = now
                with lock:
                    gaps.extend(mine)
                    tokens[0] += len(mine)

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.perf_counter() - began
    flat = np.asarray(gaps)
    return {"n": tokens[0], "per_s": tokens[0] / elapsed, "p50": float(np.percentile(flat, 50)),
            "p99": float(np.percentile(flat, 99)), "5xx": errors[0]}


def row(name: str, clients: int, r: dict, unit: str = "requests") -> str:
    return f"| {name} | {clients} | {r['n']:,} {unit} | {r['per_s']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['5xx']} |"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a classifier run (default: train configs/tiny/reviews_lstm.yaml)")
    ap.add_argument("--lm-run", type=Path, help="a text run (default: train configs/tiny/text_char_lstm.yaml)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0, help="per row")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or train_tiny("reviews_lstm", Path(tmp))
        lm_run = args.lm_run or train_tiny("text_char_lstm", Path(tmp))
        print(f"python {platform.python_version()}, tensorflow {metadata.version('tensorflow')}, keras "
              f"{metadata.version('keras')}, fastapi {metadata.version('fastapi')}, uvicorn {metadata.version('uvicorn')}; "
              f"{platform.machine()}, {os.cpu_count()} CPUs; {args.seconds:g} s per row, server and clients on one machine")
        print("\n| route | clients | answered | per s | p50 ms | p99 ms | 5xx |\n|---|---|---|---|---|---|---|")
        server = Server(run)
        try:
            rss = [server.rss_mb()]
            for clients in (1, args.clients):
                print(row("/predict, 1 short text", clients, load(server.url, predict_request([SHORT]), clients, args.seconds)))
            for clients in (1, args.clients):
                print(row("/predict, 32 texts", clients, load(server.url, predict_request([SHORT] * 32), clients, args.seconds)))
            for clients in (1, args.clients):
                print(row("session, one word a request", clients, load(server.url, session_request(), clients, args.seconds)))
            rss.append(server.rss_mb())
        finally:
            server.stop()
        lm = Server(lm_run)
        try:
            rss_lm = [lm.rss_mb()]
            for clients in (1, args.clients):
                print(row("/generate 200 tokens, per token", clients, token_gaps(lm.url, clients, args.seconds, 200), "tokens"))
            rss_lm.append(lm.rss_mb())
        finally:
            lm.stop()
        print(f"\nserver memory (RSS): classifier {rss[0]:.0f} MB before the load, {rss[1]:.0f} MB after; "
              f"language model {rss_lm[0]:.0f} MB before, {rss_lm[1]:.0f} MB after")


if __name__ == "__main__":
    main()

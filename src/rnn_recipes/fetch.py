"""Data files from outside: the download cache, bounded downloads checked against a sha256, and the size cap.

Every byte read is bounded: a download by its Content-Length and then by
each block, a dataset file by `max_data_bytes` (2 GB, or `RNN_MAX_DATA_MB`).
A partial, oversized or corrupt download never lands in the cache.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from rnn_recipes.errors import DataError
from rnn_recipes.fileio import sha256_file


def max_data_bytes() -> int:
    """The most bytes a dataset file (or everything unpacked from it) may hold: 2 GB, or RNN_MAX_DATA_MB."""
    raw = os.environ.get("RNN_MAX_DATA_MB", "")
    try:
        return int(float(raw) * 1_000_000) if raw else MAX_DATA_BYTES
    except ValueError:
        raise DataError(f"RNN_MAX_DATA_MB={raw[:50]!r}: expected a number of megabytes") from None


MAX_DATA_BYTES = 2_000_000_000  # IMDB is 17 MB and a large corpus a few hundred; raise with RNN_MAX_DATA_MB


def cache_dir() -> Path:
    return Path(os.environ.get("RNN_RECIPES_CACHE", Path.home() / ".cache" / "rnn-recipes"))


DOWNLOAD_TIMEOUT = 60  # seconds without a byte before a download gives up


def check_url(url: str) -> None:
    """Refuse a url that is not a plain http(s) address: a bad host, port, or control characters."""
    if any(ord(c) < 32 or ord(c) == 127 for c in url) or " " in url:
        raise DataError(f"url {url[:200]!r} holds spaces or control characters (CR, LF, ...); refused")
    if not url.startswith(("https://", "http://")):
        raise DataError(f"unsupported url {url[:200]!r}; expected http(s)://")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # a non-numeric or out-of-range port raises here
    except ValueError as exc:
        raise DataError(f"invalid url {url[:200]!r}: {exc}") from None
    if not parts.hostname:
        raise DataError(f"invalid url {url[:200]!r}: it names no host")


def download(
    url: str, dest: Path, sha256: str, check: Callable[[Path], None] | None = None, algorithm: str = "sha256"
) -> Path:
    """Download `url` to `dest` through a temporary file; keep it only if the hash matches.

    `sha256` is the expected hex digest; `algorithm` names another hashlib
    algorithm where the file's publisher pins only that (Keras' word index: md5).

    The response is streamed with a size cap (its Content-Length first, then
    every block), so an endless or oversized response stops early; a partial
    or corrupt download never lands at `dest`. `check(tmp)` may refuse a
    correctly hashed file before it is kept (e.g. text that is not UTF-8).
    """
    check_url(url)
    limit = max_data_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp, open(tmp, "wb") as fh:
            headers = getattr(resp, "headers", None)  # an http response has them; be lenient with anything else
            declared = headers.get("Content-Length") if headers is not None else None
            if declared and declared.isdigit() and int(declared) > limit:
                raise DataError(f"{url}: the response is {int(declared):,} bytes, more than the {limit:,} allowed; refused")
            h, n = hashlib.new(algorithm), 0
            while block := resp.read(1 << 20):
                n += len(block)
                if n > limit:
                    raise DataError(f"{url}: the response is larger than {limit:,} bytes; stopped and refused")
                h.update(block)
                fh.write(block)
        got = h.hexdigest()
        if got != sha256:
            raise DataError(f"{url}: {algorithm} mismatch: expected {sha256}, got {got}")
        if check is not None:
            check(tmp)
        os.replace(tmp, dest)
    except (ValueError, http.client.HTTPException) as exc:  # urllib's own refusals of a malformed url or reply
        raise DataError(f"cannot download {url[:200]}: {type(exc).__name__}: {str(exc)[:200]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def fetched(url: str, sha256: str, allow_download: bool = True, check: Callable[[Path], None] | None = None) -> Path:
    """The cached copy of `url`, downloaded first if it is missing or altered (`check` as `download` takes it)."""
    check_url(url)
    path = cache_dir() / sha256
    if not (path.is_file() and sha256_file(path) == sha256):
        if not allow_download:
            raise DataError(f"{url} is not downloaded yet; run `rnn train` once to fetch it")
        try:
            download(url, path, sha256, check)
        except OSError as exc:
            raise DataError(f"cannot download {url} ({exc}); put the file at {path}") from None
    return path

"""The configs and recipes shipped with the package: where they are, and finding one by name.

May import: nothing of the project.
"""

from __future__ import annotations

from pathlib import Path


def bundled_dir(kind: str) -> Path:
    """`configs` or `recipes` inside an installed wheel, else in the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / kind, here.parents[1] / kind):
        if candidate.is_dir():
            return candidate
    return here / kind


def resolve_named(name: str, kind: str = "configs", beside: Path | None = None) -> Path:
    """A path (relative to `beside` when given) if it exists, else the bundled file of that name.

    Example:
        >>> resolve_named("tiny/sine_simple_rnn").name   # configs/tiny/sine_simple_rnn.yaml
        'sine_simple_rnn.yaml'
    """
    path = Path(name).expanduser()
    if beside is not None and not path.is_absolute():
        path = beside / path
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    bundled = bundled_dir(kind) / f"{name}.yaml"
    return bundled if bundled.is_file() else path


def list_bundled(kind: str = "configs") -> list[tuple[str, str]]:
    """(name, first comment line) of every bundled config or recipe."""
    root = bundled_dir(kind)
    found = []
    for path in sorted(root.rglob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        about = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
        found.append((str(path.relative_to(root).with_suffix("")), about))
    return found

"""PNG plots: learning curves, predicted vs actual, forecasts beside baselines, runs side by side, gradient norms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
import matplotlib.pyplot as plt  # noqa: E402

from rnn_recipes.fileio import atomic_write  # noqa: E402


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def learning_curves(history: dict[str, list[float]], path: Path, title: str = "") -> None:
    """Loss and each metric per epoch, training and validation side by side."""
    names = [k for k in history if not k.startswith("val_") and k != "seconds"]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], "o-", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def compare_curves(histories: dict[str, dict[str, list[float]]], path: Path, title: str = "") -> None:
    """One panel per metric, one line per run: validation curves where every run has them."""
    first = next(iter(histories.values()))
    names = [k for k in first if not k.startswith("val_") and k != "seconds"]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        shown = f"val_{name}" if all(f"val_{name}" in h for h in histories.values()) else name
        for label, history in histories.items():
            values = history.get(shown, [])
            ax.plot(range(1, len(values) + 1), values, "o-", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(shown)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def gradient_norms(curves: dict[tuple[str, str], Any], path: Path, title: str = "") -> None:
    """Per-step gradient norms on a log scale: one panel per stage (untrained, trained), one line per cell."""
    stages = list(dict.fromkeys(stage for _, stage in curves))
    fig, axes = plt.subplots(1, len(stages), figsize=(6 * len(stages), 3.8), squeeze=False, sharey=True)
    for ax, stage in zip(axes[0], stages):
        for (cell, s), norms in curves.items():
            if s == stage:
                ax.semilogy(range(1, len(norms) + 1), norms, label=cell)
        ax.set_xlabel("time step (the last one is next to the loss)")
        ax.set_ylabel("|dL/dx_t|")
        ax.set_title(stage)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def confusion(matrix, class_names, path: Path, title: str = "") -> None:
    """A confusion matrix: rows are the true classes, columns the predicted ones, with the counts written in."""
    import numpy as np

    cm = np.asarray(matrix)
    size = 1.2 + 0.6 * len(class_names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(int(v)), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
    fig.colorbar(im, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def forecasts(lines: dict[str, Any], times: list, targets: tuple[str, ...], path: Path, title: str = "") -> None:
    """Actual values and each forecast over the test period: one panel per target, first and last step ahead.

    `lines` maps a label to (windows, horizon, targets) values; the first is the actual series.
    """
    horizon = next(iter(lines.values())).shape[1]
    steps = [0] if horizon == 1 else [0, horizon - 1]
    fig, axes = plt.subplots(len(targets), len(steps), figsize=(7 * len(steps), 3.5 * len(targets)), squeeze=False)
    ticks = range(len(times))
    for k, target in enumerate(targets):
        for ax, step in zip(axes[k], steps):
            for i, (label, values) in enumerate(lines.items()):
                style = {"color": "black", "linewidth": 2} if i == 0 else {"linestyle": "-" if i == 1 else "--", "alpha": 0.8}
                ax.plot(ticks, values[:, step, k], label=label, **style)
            ax.set_title(f"{target}: {step + 1} step{'s' if step else ''} ahead")
            shown = list(ticks)[:: max(1, len(times) // 8)]
            ax.set_xticks(shown, [str(times[i]) for i in shown], rotation=30, fontsize="small")
            ax.set_xlabel("test window, by the time of its first forecast value")
            ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def attention_map(weights, source_tokens: list[str], output_tokens: list[str], path: Path, title: str = "") -> None:
    """A seq2seq attention map: one row per output token, one column per source token, darker is more weight."""
    import numpy as np

    w = np.asarray(weights)[: len(output_tokens), : len(source_tokens)]
    fig, ax = plt.subplots(figsize=(1.5 + 0.35 * max(len(source_tokens), 4), 1.2 + 0.35 * max(len(output_tokens), 4)))
    im = ax.imshow(w, cmap="Greys", vmin=0.0, vmax=max(float(w.max(initial=0.0)), 1e-9), aspect="auto")
    shown = lambda tokens: [repr(t)[1:-1] if t.strip() else "␣" for t in tokens]  # noqa: E731
    ax.set_xticks(range(len(source_tokens)), shown(source_tokens), rotation=90)
    ax.set_yticks(range(len(output_tokens)), shown(output_tokens))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.colorbar(im, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def attention_examples(model, ds, out_dir: Path, n: int = 3) -> list[Path]:
    """Attention maps of the first `n` test examples of a seq2seq dataset, decoded greedily: `attention_<i>.png`."""
    from rnn_recipes.decode import Decoder

    codec = ds.codec
    decoded = Decoder(model, codec.start, codec.end).greedy(ds.x_test[0][:n])
    paths = []
    for i, ((source, _), d) in enumerate(zip(ds.extra["test_pairs"], decoded), start=1):
        out = [codec.target[t] for t in d.ids] + ([codec.target[codec.end]] if d.ended else [])
        path = Path(out_dir) / f"attention_{i}.png"
        attention_map(d.weights, codec.source_tokens(source), out, path, title=f"{source} -> {codec.decode(d.ids)}")
        paths.append(path)
    return paths

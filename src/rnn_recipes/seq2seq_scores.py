"""How close decoded sequences are to their references: exact match, token accuracy, chrF and BLEU.

chrF and BLEU come from sacrebleu, the reference implementation that papers
report (`sacrebleu.metrics.CHRF`, `BLEU`), on the detokenized strings; BLEU
is computed on characters for character-level runs (`tokenize="char"`),
where words are too few per sentence to count 4-grams. No TensorFlow here.
"""

from __future__ import annotations

from typing import Sequence


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """The share of hypotheses equal to their reference.

    Example:
        >>> exact_match(["596", "10"], ["596", "11"])
        0.5
    """
    return sum(h == r for h, r in zip(hypotheses, references)) / max(1, len(references))


def token_accuracy(hypotheses: Sequence[Sequence[int]], references: Sequence[Sequence[int]]) -> float:
    """The share of reference tokens (the end token included) the hypothesis has at the same position.

    Example:
        >>> token_accuracy([[5, 9, 6, 3]], [[5, 9, 7, 3]])
        0.75
    """
    right = total = 0
    for h, r in zip(hypotheses, references):
        total += len(r)
        right += sum(a == b for a, b in zip(h, r))
    return right / max(1, total)


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str], level: str = "word") -> dict:
    """sacrebleu's corpus chrF and BLEU (0-100) of `hypotheses` against one reference each.

    Example:
        >>> corpus_scores(["2026-11-25"], ["2026-11-25"], level="char")
        {'chrf': 100.0, 'bleu': 100.0}
    """
    from sacrebleu.metrics import BLEU, CHRF

    refs = [list(references)]
    bleu = BLEU(tokenize="char" if level == "char" else "13a", effective_order=True)
    return {"chrf": round(CHRF().corpus_score(list(hypotheses), refs).score, 4),
            "bleu": round(bleu.corpus_score(list(hypotheses), refs).score, 4)}


def score(hypotheses: Sequence[str], references: Sequence[str], hyp_ids, ref_ids, level: str) -> dict:
    """Every score of a decoded test set: exact_match, token_accuracy, chrf, bleu."""
    return {"exact_match": exact_match(hypotheses, references), "token_accuracy": token_accuracy(hyp_ids, ref_ids),
            **corpus_scores(hypotheses, references, level)}

"""Write the bundled labelled reviews: configs/data/reviews.csv and configs/tiny/data/reviews_tiny.csv.

The rnn-recipes project wrote this generator and the texts it produces; they
are free to use for any purpose (MIT, like the rest of the project). Every
review is synthetic: short English product and service reviews labelled
negative, neutral or positive.

Most reviews carry a plain signal ("the kettle is flimsy"), but some turn on
word order, which a bag of words cannot see: negation ("not bad at all",
"not reliable", "hardly worth it", "never had a problem"), contrast ("I
expected it to be sturdy, but it is flimsy") and mixed verdicts ("the price is
great but the fit is awful" is neutral). Context sentences shared by all three
classes ("Bought it for my sister.") add noise.

Deterministic: the same seed writes the same bytes. Run from anywhere:

    python configs/data/make_labelled.py           # (re)write both files
    python configs/data/make_labelled.py --check   # exit 1 if the files differ from what it would write
"""

from __future__ import annotations

import csv
import io
import random
import sys
from pathlib import Path

SEED = 20261125
PER_CLASS = 260  # 780 reviews
TINY_PER_CLASS = 40  # 120 reviews, the first of each class in the full file
CLASSES = ("negative", "neutral", "positive")
HERE = Path(__file__).resolve().parent
FULL = HERE / "reviews.csv"
TINY = HERE.parent / "tiny" / "data" / "reviews_tiny.csv"

# (noun phrase, plural)
SUBJECTS = [
    ("the blender", False), ("this kettle", False), ("the hotel room", False), ("the delivery", False),
    ("the support team", False), ("the app", False), ("these headphones", True), ("the jacket", False),
    ("the pizza", False), ("the battery", False), ("the checkout", False), ("the mattress", False),
    ("the vacuum", False), ("this phone case", False), ("the coffee maker", False), ("the gym", False),
    ("the haircut", False), ("the rental car", False), ("the laptop stand", False), ("the backpack", False),
    ("the desk lamp", False), ("these running shoes", True), ("the tent", False), ("the restaurant", False),
    ("the ticket app", False), ("the keyboard", False), ("the sofa", False), ("these towels", True),
    ("the printer", False), ("the service", False), ("the charger", False), ("the office chair", False),
    ("the hiking boots", True), ("the frying pan", False), ("the smart watch", False), ("the cleaning crew", False),
]
POSITIVE = [
    "great", "excellent", "fantastic", "reliable", "comfortable", "sturdy", "well made", "impressive",
    "lovely", "superb", "solid", "brilliant", "quick", "friendly", "spotless", "perfect", "good",
]
NEGATIVE = [
    "terrible", "awful", "flimsy", "useless", "disappointing", "broken", "noisy", "slow", "overpriced",
    "poorly made", "frustrating", "unreliable", "rude", "dirty", "bad", "cheap and nasty", "messy",
]
MIDDLING = ["okay", "fine", "average", "acceptable", "ordinary", "adequate", "so-so", "standard", "alright", "passable"]
ASPECTS = [
    "price", "design", "packaging", "sound", "screen", "fit", "staff", "food", "instructions", "size",
    "colour", "battery life", "setup", "location", "handle", "strap", "menu", "lid", "cable", "room service",
]
TIMES = ["two days", "a week", "three weeks", "a month", "two months", "one use", "a few hours", "the first wash"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the weekend", "time", "the second day"]
INTENSIFIERS = ["", "", "", "really ", "very ", "quite ", "genuinely ", "so ", "pretty "]
CONTEXT = [
    "Bought it for my sister.", "Ordered it last month.", "Used it for {time}.", "Delivery took {n} days.",
    "This was a gift.", "Second one I have owned.", "We stayed for {n} nights.", "Picked it up in store.",
    "Got it on sale.", "My partner chose it.", "Used it every day for {time}.", "Booked it for a work trip.",
    "I read the reviews first.", "Came in a plain box.", "Paid full price.", "Tried it over {time}.",
]

# Plain templates: the words alone give the class away.
POSITIVE_TEMPLATES = [
    "{S} {be} {int}{pos}.",
    "{S} {be} {int}{pos} and {pos2}.",
    "I love {s}, {it} {be} {pos}.",
    "Would buy {s} again without hesitation.",
    "Nothing to complain about, {s} {be} {pos}.",
    "Exceeded my expectations, {s} {be} {int}{pos}.",
    "The {aspect} is {pos} and the {aspect2} is {pos2}.",
    "Five stars for {s}.",
    "Would recommend {s} to anyone.",
]
NEGATIVE_TEMPLATES = [
    "{S} {be} {int}{neg}.",
    "{S} {be} {int}{neg} and {neg2}.",
    "{S} broke after {time}.",
    "{S} stopped working after {time}.",
    "Returned {s} within {time}.",
    "Would not recommend {s} to anyone.",
    "The {aspect} is {neg} and the {aspect2} is {neg2}.",
    "One star for {s}.",
    "Hardly worth the money, {s} {be} {neg}.",
]
NEUTRAL_TEMPLATES = [
    "{S} {be} {mid}.",
    "{S} {be} {mid}, nothing special.",
    "Not great, not terrible.",
    "{S} {be} neither {pos} nor {neg}.",
    "{S} arrived on {day}.",
    "{S} does what it says, no more, no less.",
    "Haven't used {s} much yet, so hard to say.",
    "{S} {be} fine for the price.",
    "{S} {be} about what I expected.",
    "Three stars for {s}.",
]
# Order templates: positive and negative use the same words, a positive and a
# negative adjective in each; only the order (what "not", "never" or "but"
# applies to) gives the class. Neutral mixes both in the same frames.
ORDER_TEMPLATES = {
    "positive": [
        "{S} {be} not {neg} at all.",
        "{S} {be} never {neg}.",
        "I expected {s} to be {neg}, but {it} {be} {pos}.",
        "{S} seemed {neg} at first, but now {it} {be} {pos}.",
        "Not {neg}, {s} {be} {pos}.",
        "The {aspect} is {neg} but overall {s} {be} {pos}.",
    ],
    "negative": [
        "{S} {be} not {pos} at all.",
        "{S} {be} never {pos}.",
        "I expected {s} to be {pos}, but {it} {be} {neg}.",
        "{S} seemed {pos} at first, but now {it} {be} {neg}.",
        "Not {pos}, {s} {be} {neg}.",
        "The {aspect} is {pos} but overall {s} {be} {neg}.",
    ],
    "neutral": [
        "The {aspect} is {pos} but the {aspect2} is {neg}.",
        "The {aspect} is {neg} but the {aspect2} is {pos}.",
        "{S} {be} not {pos}, but not {neg} either.",
        "{S} {be} not {neg}, but not {pos} either.",
        "I expected {s} to be {pos}, but {it} {be} {mid}.",
        "I expected {s} to be {neg}, but {it} {be} {mid}.",
    ],
}
ORDER_SHARE = 0.4  # of main sentences
TEMPLATES = {"negative": NEGATIVE_TEMPLATES, "neutral": NEUTRAL_TEMPLATES, "positive": POSITIVE_TEMPLATES}


def _capitalise(s: str) -> str:
    return s[0].upper() + s[1:]


def _sentence(rng: random.Random, templates: list[str], subject: str, plural: bool) -> str:
    pos, pos2 = rng.sample(POSITIVE, 2)
    neg, neg2 = rng.sample(NEGATIVE, 2)
    aspect, aspect2 = rng.sample(ASPECTS, 2)
    fields = {
        "s": subject, "S": _capitalise(subject), "be": "are" if plural else "is", "it": "they" if plural else "it",
        "pos": pos, "pos2": pos2, "neg": neg, "neg2": neg2, "mid": rng.choice(MIDDLING),
        "aspect": aspect, "aspect2": aspect2, "time": rng.choice(TIMES), "day": rng.choice(DAYS),
        "int": rng.choice(INTENSIFIERS),
    }
    return rng.choice(templates).format(**fields)


def _review(rng: random.Random, label: str) -> str:
    subject, plural = rng.choice(SUBJECTS)
    main = ORDER_TEMPLATES[label] if rng.random() < ORDER_SHARE else TEMPLATES[label]
    parts = [_sentence(rng, main, subject, plural)]
    if rng.random() < 0.25:  # a second verdict of the same class, on the same thing
        parts.append(_sentence(rng, TEMPLATES[label] + ORDER_TEMPLATES[label], subject, plural))
    if rng.random() < 0.5:  # context that says nothing about the label
        context = rng.choice(CONTEXT).format(time=rng.choice(TIMES), n=rng.randint(2, 9))
        parts.insert(rng.randrange(len(parts) + 1), context)
    return " ".join(parts)


def generate(seed: int = SEED, per_class: int = PER_CLASS) -> list[tuple[str, str]]:
    """(text, label) rows: `per_class` distinct reviews per class, shuffled."""
    rng = random.Random(seed)
    seen: set[str] = set()
    rows = []
    for label in CLASSES:
        made = 0
        while made < per_class:
            text = _review(rng, label)
            if text not in seen:
                seen.add(text)
                rows.append((text, label))
                made += 1
    rng.shuffle(rows)
    return rows


def tiny(rows: list[tuple[str, str]], per_class: int = TINY_PER_CLASS) -> list[tuple[str, str]]:
    """The first `per_class` rows of each class, in file order."""
    taken = {label: 0 for label in CLASSES}
    out = []
    for text, label in rows:
        if taken[label] < per_class:
            taken[label] += 1
            out.append((text, label))
    return out


def to_csv(rows: list[tuple[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return buf.getvalue()


def main(argv: list[str]) -> int:
    rows = generate()
    files = {FULL: to_csv(rows), TINY: to_csv(tiny(rows))}
    if "--check" in argv:
        stale = [str(p) for p, text in files.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
        for p in stale:
            print(f"{p} differs from what {Path(__file__).name} writes", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        print(f"wrote {path} ({text.count(chr(10)) - 1} reviews)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

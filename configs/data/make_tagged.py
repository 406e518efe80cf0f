"""Write the bundled tagged sentences: configs/data/ner/{train,valid,test}.conll and configs/tiny/data/ner_tiny.conll.

The rnn-recipes project wrote this generator and the sentences it produces;
they are free to use for any purpose (MIT, like the rest of the project).
Every sentence is synthetic English in the style of news wire, tagged in
CoNLL-2003's format (`token tag` a line, IOB2 tags over PER, LOC, ORG and
MISC, a blank line between sentences, a `-DOCSTART-` line opening each file).

What makes it a tagging problem rather than a lookup:
- the validation and test files hold people, places and organisations the
  training file never names (half of their entities), which a tagger must
  recognise from their context and their shape (capitals, "Corp", "of");
- some names are ambiguous and only the context decides ("Jordan" is a
  person in one sentence and a country in the next; "Washington" too);
- every sentence starts with a capital letter, entity or not, and some
  sentences hold no entity at all.

Deterministic: the same seed writes the same bytes. Run from anywhere:

    python configs/data/make_tagged.py           # (re)write every file
    python configs/data/make_tagged.py --check   # exit 1 if the files differ from what it would write
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SEED = 20261125
SIZES = {"train": 1200, "valid": 200, "test": 300}
TINY = 160  # the tiny file: its own draw, split by the config's seed
HERE = Path(__file__).resolve().parent

# each pool: (seen in training, held out for validation and test)
FIRST = (["John", "Maria", "Peter", "Anna", "David", "Elena", "Thomas", "Sarah", "Ahmed", "Yuki", "Carlos", "Ingrid",
          "Michael", "Fatima", "Pierre", "Olga", "James", "Lucia", "Henrik", "Mei"],
         ["Robert", "Aisha", "Lars", "Sofia", "Kenji", "Amara", "Pablo", "Greta", "Ivan", "Nadia"])
LAST = (["Smith", "Garcia", "Muller", "Rossi", "Tanaka", "Novak", "Kowalski", "Dubois", "Jensen", "Silva", "Brown",
         "Petrov", "Nakamura", "Haddad", "Okafor", "Lindqvist", "Moreau", "Schmidt", "Costa", "Walsh"],
        ["Johansson", "Mbeki", "Fischer", "Romano", "Sato", "Horvat", "Mendes", "Kaplan", "Adeyemi", "Larsen"])
CITY = (["London", "Paris", "Berlin", "Tokyo", "Madrid", "Rome", "Moscow", "Cairo", "Sydney", "Toronto", "Lagos",
         "Mumbai", "Oslo", "Vienna", "Washington", "New York", "Buenos Aires", "Hong Kong", "Los Angeles"],
        ["Lisbon", "Nairobi", "Warsaw", "Dublin", "Seoul", "Lima", "Kiev", "Rio de Janeiro", "San Francisco", "Cape Town"])
COUNTRY = (["France", "Germany", "Japan", "Brazil", "Canada", "Italy", "Spain", "Egypt", "India", "Norway",
            "Russia", "Australia", "South Africa", "United States", "Jordan"],
           ["Portugal", "Kenya", "Poland", "Ireland", "Chile", "Peru", "Sweden", "New Zealand", "Ukraine", "Ghana"])
ORG = (["Acme Corp", "United Nations", "Bank of England", "Reuters", "General Motors", "Northwind Holdings",
        "World Bank", "Red Cross", "Real Madrid", "Lazio", "Siemens", "European Commission", "Apex Mining Ltd",
        "Deutsche Bank", "Toyota", "NATO"],
       ["Bank of Japan", "Oceanic Airlines", "Bayer", "Ajax", "Blue River Energy Inc", "International Monetary Fund",
        "Vale", "Celtic", "Helix Pharma Group", "Greenpeace"])
MISC = (["German", "French", "Japanese", "Brazilian", "Olympic Games", "World Cup", "Italian", "Dutch", "Russian",
         "Nobel Prize", "Australian Open"],
        ["Swedish", "Kenyan", "Polish", "Tour de France", "Irish", "Chilean"])
AMBIGUOUS_PERSON = ["Jordan", "Washington"]  # as surnames; Jordan is a country and Washington a city elsewhere
DAY = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NUMBER = ["2", "3", "4.5", "12", "1.8", "40", "7", "150", "0.6", "25"]
SCORE = ["1-0", "2-1", "3-2", "0-0", "4-1", "2-2"]

# {PER} {LOC} {ORG} {MISC} {CITY} {COUNTRY} fill entities; {DAY} {NUM} {SCORE} fill plain words
TEMPLATES = [
    "{PER} , chairman of {ORG} , said on {DAY} that the company would open an office in {CITY} .",
    "{ORG} shares fell {NUM} percent in {CITY} on {DAY} .",
    "{ORG} beat {ORG} {SCORE} in {CITY} on {DAY} .",
    "{PER} scored twice as {ORG} beat {ORG} {SCORE} .",
    "The {MISC} minister met {PER} in {CITY} to discuss trade with {COUNTRY} .",
    "Police in {CITY} said {PER} was arrested on {DAY} .",
    "{COUNTRY} and {COUNTRY} signed a trade agreement in {CITY} .",
    "{PER} won the {MISC} after beating {PER} in the final .",
    "Officials at {ORG} said exports to {COUNTRY} rose {NUM} percent .",
    "{PER} told {ORG} that the talks in {CITY} had failed .",
    "Heavy rain hit {COUNTRY} on {DAY} , forcing {ORG} to close its plant .",
    "The market was quiet on {DAY} and prices barely moved .",
    "Analysts expect growth of {NUM} percent next year .",
    "{ORG} said on {DAY} it had hired {PER} as chief executive .",
    "Speaking in {CITY} , {PER} said {COUNTRY} would not change its policy .",
    "{PER} , a {MISC} citizen , was freed in {COUNTRY} on {DAY} .",
    "Troops from {COUNTRY} arrived in {CITY} on {DAY} , {ORG} said .",
    "Mr {LAST} said the {MISC} government would meet {ORG} .",
    "{FIRST} {LAST} and {FIRST} {LAST} reached the second round .",
    "The company expects sales of {NUM} billion dollars this year .",
    "{ORG} will buy {ORG} for {NUM} billion dollars , sources in {CITY} said .",
    "Fans in {CITY} celebrated after {COUNTRY} won the {MISC} .",
]


def _person(rng: random.Random, pool: int) -> list[str]:
    first, last = rng.choice(FIRST[pool]), rng.choice(LAST[pool] + AMBIGUOUS_PERSON * (pool == 0))
    return [first, last] if rng.random() < 0.8 else [last]


def _entity(slot: str, rng: random.Random, held_out: bool) -> list[tuple[str, str]]:
    """The tokens and IOB2 tags one slot fills: entities from the seen or (some of the time) the held-out pool."""
    pool = 1 if held_out and rng.random() < 0.5 else 0
    plain = {"DAY": DAY, "NUM": NUMBER, "SCORE": SCORE}
    if slot in plain:
        return [(rng.choice(plain[slot]), "O")]
    if slot in ("PER", "FIRST", "LAST"):
        words = _person(rng, pool) if slot == "PER" else [rng.choice((FIRST if slot == "FIRST" else LAST)[pool])]
        kind = "PER"
    elif slot in ("CITY", "COUNTRY"):
        words, kind = rng.choice((CITY if slot == "CITY" else COUNTRY)[pool]).split(), "LOC"
    else:
        words, kind = rng.choice((ORG if slot == "ORG" else MISC)[pool]).split(), slot
    return [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words)]


def sentence(rng: random.Random, held_out: bool) -> list[tuple[str, str]]:
    """One templated sentence as (token, tag) pairs; "{FIRST} {LAST}" reads as one person."""
    template = rng.choice(TEMPLATES)
    out: list[tuple[str, str]] = []
    for word in template.replace("{FIRST} {LAST}", "{PER}").split():
        if word.startswith("{") and word.endswith("}"):
            out.extend(_entity(word[1:-1], rng, held_out))
        else:
            out.append((word, "O"))
    return out


def conll(sentences: list[list[tuple[str, str]]]) -> str:
    """The CoNLL text: a -DOCSTART- line, then each sentence's `token tag` lines and a blank line."""
    lines = ["-DOCSTART- O", ""]
    for s in sentences:
        lines.extend(f"{token} {tag}" for token, tag in s)
        lines.append("")
    return "\n".join(lines)


def files() -> dict[Path, str]:
    rng = random.Random(SEED)
    out = {HERE / "ner" / f"{name}.conll": conll([sentence(rng, held_out=name != "train") for _ in range(n)])
           for name, n in SIZES.items()}
    out[HERE.parent / "tiny" / "data" / "ner_tiny.conll"] = conll(
        [sentence(rng, held_out=rng.random() < 0.3) for _ in range(TINY)])
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in files().items():
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"differs: {path}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

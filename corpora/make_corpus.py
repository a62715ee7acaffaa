"""Write corpora/fables.txt: short animal fables from a small grammar of our own.

The text is generated (seeded, so every run writes the same bytes), which keeps the
corpus ours and small (~300 KB) while giving a language model real structure to
learn: recurring characters, agreement, dialogue and a moral after each story.

    python corpora/make_corpus.py          # (re)write the file
    python corpora/make_corpus.py --check  # write it only if missing or different
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

OUT = Path(__file__).with_name("fables.txt")
SEED = 2026
STORIES = 900

ANIMALS = [
    "fox",
    "crow",
    "hare",
    "tortoise",
    "lion",
    "mouse",
    "wolf",
    "lamb",
    "ant",
    "grasshopper",
    "owl",
    "goat",
    "dog",
    "cat",
    "frog",
    "heron",
    "bear",
    "bee",
    "stag",
    "donkey",
    "horse",
    "rooster",
    "swallow",
    "snake",
]
TRAITS = [
    "clever",
    "proud",
    "lazy",
    "patient",
    "hungry",
    "foolish",
    "old",
    "young",
    "greedy",
    "kind",
    "boastful",
    "timid",
    "wise",
    "quick",
    "careful",
]
PLACES = [
    "by the river",
    "in the deep wood",
    "on the hill",
    "near the old mill",
    "at the edge of the field",
    "under the oak tree",
    "beside the well",
    "in the farmer's yard",
    "among the reeds",
    "on the dusty road",
]
SEASONS = [
    "One summer morning",
    "Late one autumn",
    "In the cold of winter",
    "When spring came",
    "One evening",
    "Long ago",
    "On a hot afternoon",
]
WANTS = [
    "a piece of cheese",
    "a drink of water",
    "a warm place to sleep",
    "the ripest grapes",
    "a crust of bread",
    "the honey in the hollow tree",
    "a shelter from the rain",
    "the last of the corn",
    "a friend to talk to",
    "the shiny pebble",
]
ACTIONS = [
    "ran as fast as it could",
    "waited for a long time",
    "called out loudly",
    "tried to trick the other",
    "shared what it had",
    "laughed and went away",
    "worked all day long",
    "fell asleep in the sun",
    "climbed the highest branch",
    "hid behind a stone",
]
ENDINGS = [
    "got nothing at all",
    "found what it wanted",
    "was left hungry and alone",
    "won the race in the end",
    "learned a hard lesson",
    "made a friend for life",
    "lost everything it had",
    "was thanked by all the others",
]
MORALS = [
    "Slow and steady wins the race.",
    "Do not trust a flatterer.",
    "Those who work today eat tomorrow.",
    "A kindness is never wasted.",
    "Pride goes before a fall.",
    "Look before you leap.",
    "It is easy to despise what you cannot get.",
    "Little friends may prove great friends.",
    "Greed often overreaches itself.",
    "Better safe than sorry.",
]
SAYINGS = [
    "Why are you in such a hurry?",
    "I shall have it before you do.",
    "Will you help me, friend?",
    "There is enough for both of us.",
    "You will be sorry for this.",
    "Come and rest with me a while.",
    "I am stronger than you think.",
    "Who goes there?",
]


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(TRAITS), rng.choice(ANIMALS)


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _quote(saying: str) -> str:
    """A quoted saying inside a sentence ends with a comma unless it asks something."""
    return f'"{saying[:-1]},"' if saying.endswith(".") else f'"{saying}"'


def story(rng: random.Random) -> list[str]:
    """One fable: a title, a few sentences, some dialogue and its moral."""
    (t1, a1), (t2, a2) = _name(rng), _name(rng)
    while a2 == a1:
        a2 = rng.choice(ANIMALS)
    lines = [f"The {a1.title()} and the {a2.title()}", ""]
    lines.append(
        f"{rng.choice(SEASONS)}, {_a(t1)} {a1} met {_a(t2)} {a2} {rng.choice(PLACES)}."
    )
    lines.append(f"The {a1} wanted {rng.choice(WANTS)}, and so did the {a2}.")
    lines.append(f"{_quote(rng.choice(SAYINGS))} said the {a1}.")
    lines.append(f"{_quote(rng.choice(SAYINGS))} answered the {a2}.")
    for _ in range(rng.randint(1, 3)):
        who = rng.choice([a1, a2])
        lines.append(f"The {who} {rng.choice(ACTIONS)}.")
    winner, loser = (a1, a2) if rng.random() < 0.5 else (a2, a1)
    lines.append(
        f"In the end the {winner} {rng.choice(ENDINGS[1::2])}, "
        f"and the {loser} {rng.choice(ENDINGS[0::2])}."
    )
    lines.append(f"Moral: {rng.choice(MORALS)}")
    lines.append("")
    return lines


def generate() -> str:
    rng = random.Random(SEED)
    return "\n".join(line for _ in range(STORIES) for line in story(rng)) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="only write the file if it is missing or different",
    )
    args = parser.parse_args()
    text = generate()
    if args.check and OUT.exists() and OUT.read_text(encoding="utf-8") == text:
        return
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.encode()):,} bytes)")


if __name__ == "__main__":
    main()

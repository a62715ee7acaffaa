"""Penn Treebank-style word splitting: `ptb_split`, `ptb_join`, `clean_web_text`.

The word level's default split (see `tokenizers.WordTokenizer`). Must not import
torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from seqcli.vocab import UNK

# Raw text ("It's a good film.") is split into the words of the Penn Treebank
# ("It 's a good film ."), the form SST, CoNLL and WikiText already use. Text in
# that form comes back unchanged (each of its words is a fixed point of the rules):
# `do n't`, `'s`, `@-@`, `<unk>`, `U.S.`, `Mr.` and `1 @,@ 000` stay as they are.
# Only the ends of a whitespace-separated chunk are split, and clitics inside it,
# so that `and/or`, `3.5`, `e-mail`, `AT&T` and `O'Neil` stay whole.


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_HTML_TAG = re.compile(r"<[^>]{1,40}>")
# A chunk kept whole: punctuation alone (`...`, `--`, `@-@`, `''`) or a tag (`<unk>`).
_WHOLE = re.compile(r"[^\w\s]+|<[\w-]+>")
# Split off the start of a chunk (`"hello`, `(see`, `$5`).
_LEADING = frozenset('"([{<\u201c\u2018\u00ab\u00bf\u00a1$\u00a3\u20ac\u00a5#*~|')
# Split off the end of a chunk (`great!`, `see)`, `50%`); periods and apostrophes
# have rules of their own.
_TRAILING = frozenset(',;:!?)]}>"\u201d\u2019\u00bb\u2026%*~|')
# Abbreviations whose period stays on the word (lowercased, without the period).
_ABBREVIATIONS = _words(
    "mr mrs ms messrs dr prof st jr sr vs etc co corp inc ltd bros col gen lt sgt "
    "capt rev gov sen mt ft dept univ approx ca cf al var ssp sp nr bzw "
    "calif ala ariz ark colo conn fla kan ky md mich minn mont neb nev okla "
    "tenn tex vt wis wyo jan feb apr jun jul aug sep sept oct nov dec"
)
# These keep their period where no sentence starts next (`No. 5`, `pp. 20`), but
# `no.` is also the word no at the end of a sentence.
_NUMBER_ABBREVIATIONS = _words("no nos op pp vol fig")
# Dot runs (ellipses) and dash runs inside a chunk are words of their own and cut
# it into chunks.
_RUNS = re.compile(r"(\.{2,}|-{2,}|\u2026)")
# English clitics split as the Penn Treebank does (``doesn't`` -> ``does n't``,
# ``it's`` -> ``it 's``); a typographic apostrophe counts as one.
_APOSTROPHE = re.compile(r"(?<=\w)\u2019(?=\w)")
_NOT = re.compile(r"(?<=\w)(n't)\b", re.IGNORECASE)
_CLITIC = re.compile(r"(?<=\w)('(?:s|re|ve|ll|d|m))\b", re.IGNORECASE)


def ptb_split(text: str) -> list[str]:
    """Words of `text`, punctuation and clitics split off as in the Penn Treebank."""
    chunks = text.split()
    tokens: list[str] = []
    for i, chunk in enumerate(chunks):
        if chunk.isalnum():  # most words: nothing to split
            tokens.append(chunk)
            continue
        known = _SPLIT_CACHE.get(chunk)
        if known is not None:
            tokens.extend(known)
            continue
        after = chunks[i + 1] if i + 1 < len(chunks) else ""
        words = _split_chunk(chunk, after, first=i == 0)
        tokens.extend(words)
        # The words around a chunk matter only to a period at its end.
        if "." not in chunk or _WHOLE.fullmatch(chunk):
            if len(_SPLIT_CACHE) >= _CACHE_SIZE:
                _SPLIT_CACHE.clear()
            _SPLIT_CACHE[chunk] = tuple(words)
    return tokens


# A corpus repeats its few thousand punctuated chunks ("'s", "(the", "it,", ".")
# over and over: remembered, they cost little more than a whitespace split.
_SPLIT_CACHE: dict[str, tuple[str, ...]] = {}
_CACHE_SIZE = 1 << 16


def _split_chunk(chunk: str, after: str, *, first: bool) -> list[str]:
    """One whitespace-separated chunk -> its words; `after` is the next chunk and
    `first` says whether this one starts the text.

    Each word is split again until none splits further, so that splitting the
    words of a split text changes nothing.
    """
    if _WHOLE.fullmatch(chunk):
        return [chunk]
    pieces = [piece for piece in _RUNS.split(chunk) if piece]
    if len(pieces) == 1:  # no ellipsis or dash run inside (wait...what, a--b)
        pieces = _split_ends(chunk, after, first=first)
        if len(pieces) == 1:
            return pieces
    words: list[str] = []
    for j, piece in enumerate(pieces):
        following = pieces[j + 1] if j + 1 < len(pieces) else after
        words.extend(_split_chunk(piece, following, first=first and j == 0))
    return words


def _split_ends(chunk: str, after: str, *, first: bool) -> list[str]:
    """Split punctuation off both ends of a chunk, then its clitics."""
    start, end = 0, len(chunk)
    head: list[str] = []
    tail: list[str] = []  # in reverse order
    while start < end and chunk[start] in _LEADING:
        head.append(chunk[start])
        start += 1
    while end > start:
        last = chunk[end - 1]
        if last in _TRAILING:
            cut = 1
        elif last == ".":
            following = "".join(reversed(tail)) or after
            cut = _period_cut(chunk, start, end, following, first=first)
        elif last == "'":
            cut = _quote_cut(chunk, start, end)
            if cut == 2:  # a quoted word: 'word' -> ' word '
                head.append("'")
                start += 1
                cut = 1
        else:
            cut = 0
        if cut == 0:
            break
        tail.append(chunk[end - cut : end])
        end -= cut
    return [*head, *_split_inside(chunk[start:end]), *reversed(tail)]


def _period_cut(chunk: str, start: int, end: int, after: str, *, first: bool) -> int:
    """How many dots to split off the end of `chunk[start:end]` (0 if it is an
    abbreviation such as `Mr.`, `U.S.`, an initial or a list number)."""
    dots = len(chunk[start:end]) - len(chunk[start:end].rstrip("."))
    stem = chunk[start : end - dots]
    if dots > 1 or not stem:
        return dots
    name = stem.lower()
    sentence_next = not after or after[0].isupper()
    keep = (
        "." in stem  # U.S., e.g., a.m.
        or (len(stem) == 1 and stem.isalpha())  # an initial: J. R. R. Tolkien
        or (first and stem.isdigit() and bool(after))  # a numbered item: 2. Wales
        or name in _ABBREVIATIONS
        or (name in _NUMBER_ABBREVIATIONS and not sentence_next)
        or after[:1].islower()  # no sentence starts here: Baby. and ...
        or after[:1] in (",", ";", ":")  # nor here: Olympia, Wash., ...
        or after == UNK  # an unknown word, as likely lowercase
    )
    return 0 if keep else 1


def _quote_cut(chunk: str, start: int, end: int) -> int:
    """Split a closing apostrophe: 2 for a quoted word ('word'), 1 after a plural
    (students'), else 0 (ol', 'n')."""
    inner = chunk[start + 1 : end - 1]
    if chunk[start] == "'" and len(inner) > 1 and "'" not in inner:
        return 2
    return 1 if end - start > 2 and chunk[end - 2] in "sS" else 0


def _split_inside(word: str) -> list[str]:
    """Split the clitics of a chunk whose ends are done."""
    if not word:
        return []
    text = _APOSTROPHE.sub("'", word)
    text = _CLITIC.sub(r" \1", _NOT.sub(r" \1", text))
    return text.split()


# Detokenizing: which words join their neighbour without a space.
_ATTACH_LEFT = _words(
    ", . ; : ! ? % ) ] } ... '' \u201d \u2019 \u00bb \u2026 n't 's 're 've 'll 'd 'm"
)
_ATTACH_RIGHT = _words("( [ { $ # `` \u201c \u2018 \u00ab \u00bf \u00a1")
_GLUE = {"@-@": "-", "@,@": ",", "@.@": "."}  # WikiText's split numbers and hyphens


def ptb_join(tokens: Iterable[str]) -> str:
    """Words -> text, undoing what `ptb_split` did where it can: no space before
    punctuation or a clitic (`do n't` -> `don't`), none inside a pair of quotes.

    Each space depends only on the words before it, so a text detokenised word by
    word (a sample being streamed) only ever grows at its end.
    """
    out: list[str] = []
    prev = ""
    quote_open = False
    for token in tokens:
        attach = bool(out) and (
            token.lower() in _ATTACH_LEFT
            or token in _GLUE
            or prev in _GLUE
            or prev in _ATTACH_RIGHT
            or (token == '"' and quote_open)
            or (prev == '"' and quote_open)
        )
        if token == '"':
            quote_open = not quote_open
        out.append(_GLUE.get(token, token) if attach else " " + token if out else token)
        prev = token
    return "".join(out)


def strip_html(text: str) -> str:
    """HTML tags (IMDB's ``<br />``) become spaces."""
    return _HTML_TAG.sub(" ", text)


def clean_web_text(text: str) -> str:
    """Raw web text -> space-separated words: HTML tags (IMDB's ``<br />``) become
    spaces, punctuation is split off words (``great!`` -> ``great !``) and clitics
    are split as in the Penn Treebank, so that a whitespace tokenizer does not learn
    ``great!`` and ``great``, or ``isn't`` and ``is``, as unrelated words.
    """
    return " ".join(ptb_split(strip_html(text)))

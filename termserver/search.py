"""Danish-aware label index: prefix, word, stem, compound and typo-tolerant search.

Labels and queries go through :func:`normalize` (casefold, accents folded, æ/ø/å and their
transliterations ae/oe/aa made equal, punctuation and whitespace runs made one space). The index
is built once and answers queries from precomputed, plain-Python structures:

* the normalized labels, sorted, for exact and "label starts with" matches by ``bisect``;
* a token -> posting list map and the sorted token list, for word-prefix ranges by ``bisect``;
* a Danish stem -> tokens map (PyStemmer), for whole-word matching of inflected forms;
* the compact (separator-free) labels, sorted, so "vaskesig" finds "Vaske sig";
* tokens bucketed by length and compact labels by (first letter, length), which bound the
  rapidfuzz OSA (Damerau) comparisons that make "vasek sig" and "egenomsrog" match.

Labels are numbered in rank order (preferred first, then shorter, then label, then id), so within
one match tier the candidate numbers sort into result order and a tier can stop as soon as
``limit`` rows are found; later, weaker tiers are not computed at all.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable

import Stemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

__all__ = ["MAX_QUERY_CHARS", "MAX_QUERY_WORDS", "LabelIndex", "normalize"]

MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 8

# Scores: one base per match tier, 10 apart; fuzzy loses 2 per edit. A label adds a bonus below 2
# (1 if preferred, plus 1/(2+length)), so the score order equals the documented rank order.
EXACT, START, WORDS, STEM, COMPACT, FUZZY = 100.0, 90.0, 80.0, 70.0, 60.0, 50.0
# How a query word matches a label word, best first.
PREFIX, STEMMED, EDIT1, EDIT2 = 0, 1, 2, 3

_SEPARATORS = re.compile(r"[\W_]+")
# ø and å are typed as o/oe and a/aa without a Danish keyboard; æ as ae. Runs of the doubled
# forms fold too, which keeps normalize() idempotent.
_DANISH = str.maketrans({"æ": "ae", "ø": "o", "å": "a"})
_AA = re.compile("a{2,}")
_OE = re.compile("oe+")
_TOP = "\U0010ffff"  # sorts after any character a normalized string can hold


def normalize(text: str) -> str:
    """The normal form used for matching: lower-case ASCII-ish words separated by one space.

    Casefolded, NFKD accents removed (é -> e), æ -> ae, ø/oe -> o, å/aa -> a, and every run of
    whitespace (NBSP too), punctuation or control characters is one space, with none at either end.
    """
    if text.isascii():
        s = text.lower()
    else:
        s = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
        s = "".join(c for c in s if not unicodedata.combining(c)).translate(_DANISH)
    s = _OE.sub("o", _AA.sub("a", s))
    return _SEPARATORS.sub(" ", s).strip()


_local = threading.local()


def _stem(word: str) -> str:
    """The Danish Snowball stem of a normalized word (so both sides are folded alike).

    PyStemmer objects are not thread-safe and a server searches from several threads, so each
    thread gets its own.
    """
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("danish")
    return stemmer.stemWord(word)


def _compact(norm: str) -> str:
    """A normalized label without separators; digraphs that now meet are folded again."""
    return _OE.sub("o", _AA.sub("a", norm.replace(" ", "")))


def _budget(n: int) -> int:
    """Edits allowed for a word of n characters: none for short words, where any edit is noise."""
    return 0 if n <= 3 else 1 if n <= 7 else 2


class _Hits:
    """Result rows for one query: first sighting of an id wins, since tiers run best first."""

    __slots__ = ("accept", "decided", "index", "limit", "rows")

    def __init__(self, index: LabelIndex, limit: int, accept: Callable[[int], bool] | None):
        self.index = index
        self.limit = limit
        self.accept = accept
        self.decided: set[int] = set()
        self.rows: list[tuple[int, float, str]] = []

    def add(self, li: int, base: float) -> bool:
        """Offer label number li at a tier score; True once the result is full."""
        item = self.index._item[li]
        if item in self.decided:
            return False
        self.decided.add(item)
        if self.accept is None or self.accept(item):
            self.rows.append((item, base + self.index._bonus[li], self.index._label[li]))
        return len(self.rows) >= self.limit

    def add_all(self, labels: Iterable[int], base: float) -> bool:
        return any(self.add(li, base) for li in labels)


class LabelIndex:
    """An immutable search index over (item id, label, is_preferred_label) entries.

    ``search`` ranks, best first: exact normalized label (score 100+), label starts with the
    query (90+), every query word is a prefix of a label word (80+), words match by prefix or
    Danish stem (70+), the query without separators is a prefix of the label without separators
    (60+), then typo matches (50 - 2 per edit, at most 0/1/2 edits per word of <=3/4-7/>=8
    letters). Within a tier a label adds a bonus below 2: 1 if preferred, plus 1/(2 + normalized
    length). Equal scores are ordered by label, then id.
    """

    def __init__(self, entries: Iterable[tuple[int, str, bool]]) -> None:
        rows = []
        seen: set[tuple[int, str, bool]] = set()
        for item, label, preferred in entries:
            norm = normalize(label)
            if norm and (item, norm, preferred) not in seen:
                seen.add((item, norm, preferred))
                rows.append((not preferred, len(norm), label, item, norm))
        rows.sort()  # label number = rank order within a tier
        self._item = [r[3] for r in rows]
        self._label = [r[2] for r in rows]
        self._bonus = [(0.0 if r[0] else 1.0) + 1.0 / (2 + r[1]) for r in rows]
        norms = [r[4] for r in rows]
        self._tokens = [tuple(n.split(" ")) for n in norms]

        by_norm = sorted(zip(norms, range(len(rows)), strict=True))
        self._norms = [n for n, _ in by_norm]
        self._norm_li = [li for _, li in by_norm]

        postings: dict[str, list[int]] = {}
        for li, toks in enumerate(self._tokens):
            for t in set(toks):
                postings.setdefault(t, []).append(li)
        self._postings = postings
        self._vocab = sorted(postings)
        self._cum = [0]  # cumulative posting sizes: cheap size estimate of a prefix range
        for t in self._vocab:
            self._cum.append(self._cum[-1] + len(postings[t]))

        stems: dict[str, list[str]] = {}
        for t, s in zip(self._vocab, map(_stem, self._vocab), strict=True):
            stems.setdefault(s, []).append(t)
        self._stems = stems
        self._by_length: dict[int, list[str]] = {}
        for t in self._vocab:
            self._by_length.setdefault(len(t), []).append(t)

        compacts = [_compact(n) for n in norms]
        by_compact = sorted(zip(compacts, range(len(rows)), strict=True))
        self._compacts = [c for c, _ in by_compact]
        self._compact_li = [li for _, li in by_compact]
        self._compact_labels: dict[str, list[int]] = {}
        for c, li in by_compact:
            self._compact_labels.setdefault(c, []).append(li)
        self._compact_buckets: dict[tuple[str, int], list[str]] = {}
        for c in self._compact_labels:
            self._compact_buckets.setdefault((c[0], len(c)), []).append(c)

    def __len__(self) -> int:
        return len(self._item)

    def search(
        self, query: str, *, limit: int = 20, accept: Callable[[int], bool] | None = None
    ) -> list[tuple[int, float, str]]:
        """Up to ``limit`` (item id, score, matched label) rows, best first, one per accepted id.

        The query is cut to MAX_QUERY_CHARS characters and MAX_QUERY_WORDS words; a query with
        no letters or digits finds nothing.
        """
        if limit <= 0 or not isinstance(query, str):
            return []
        words = normalize(query[:MAX_QUERY_CHARS]).split()[:MAX_QUERY_WORDS]
        if not words:
            return []
        q = " ".join(words)
        hits = _Hits(self, limit, accept)
        qwords = [_Word(self, w) for w in dict.fromkeys(words)]  # "og ... og" needs one "og"
        if (
            self._starts(q, hits)
            or self._words(qwords, PREFIX, hits)
            or (any(w.stems() for w in qwords) and self._words(qwords, STEMMED, hits))
            or self._compact_prefix(_compact(q), hits)
        ):
            return hits.rows
        self._fuzzy(qwords, _compact(q), hits)
        return hits.rows

    # --- tiers, best first; each returns True once the result is full ------------------------

    def _starts(self, q: str, hits: _Hits) -> bool:
        """Exact normalized label, then labels that start with the query."""
        lo = bisect_left(self._norms, q)
        mid = bisect_right(self._norms, q, lo)
        hi = bisect_left(self._norms, q + _TOP, mid)
        return hits.add_all(self._norm_li[lo:mid], EXACT) or hits.add_all(
            sorted(self._norm_li[mid:hi]), START
        )

    def _prefix_range(self, word: str) -> tuple[int, int]:
        lo = bisect_left(self._vocab, word)
        return lo, bisect_left(self._vocab, word + _TOP, lo)

    def _words(self, words: list[_Word], kind: int, hits: _Hits) -> bool:
        """Every query word matches a word of the label at ``kind`` or better."""
        sizes = [w.size(kind) for w in words]
        if not all(sizes):
            return False
        order = sorted(range(len(words)), key=sizes.__getitem__)
        candidates = words[order[0]].upto(kind)
        lazy = []
        for i in order[1:]:
            # A set intersection runs in C but costs the word's whole posting size; a common
            # word (say "og") is cheaper to test on each of the few remaining candidates.
            if sizes[i] <= 16 * len(candidates):
                candidates = candidates & words[i].upto(kind)
            else:
                lazy.append(words[i])
        base = WORDS if kind == PREFIX else STEM
        decided, item, tokens = hits.decided, self._item, self._tokens
        for li in sorted(candidates):
            if item[li] in decided or not all(w.matches(tokens[li], kind) for w in lazy):
                continue
            if hits.add(li, base):
                return True
        return False

    def _compact_prefix(self, qc: str, hits: _Hits) -> bool:
        """The query without separators starts the label without separators ("vaskesig")."""
        lo = bisect_left(self._compacts, qc)
        hi = bisect_left(self._compacts, qc + _TOP, lo)
        return hits.add_all(sorted(self._compact_li[lo:hi]), COMPACT)

    def _fuzzy(self, words: list[_Word], qc: str, hits: _Hits) -> bool:
        """Typo matches, fewest edits first: word by word against the token vocabulary, and the
        whole compact query against compact labels that share its first letter."""
        by_edits: dict[int, set[int]] = {}
        if any(w.typos() for w in words) and all(w.size(EDIT2) for w in words):
            # Per word: labels matching it with 0, 1 or 2 edits at best.
            levels = []
            for w in words:
                exact = w.upto(STEMMED)
                one = w.upto(EDIT1) - exact
                levels.append((exact, one, w.upto(EDIT2) - exact - one))
            if len(levels) == 1:
                by_edits[1], by_edits[2] = levels[0][1], levels[0][2]
            else:
                every = sorted((w.upto(EDIT2) for w in words), key=len)
                decided, item = hits.decided, self._item
                for li in every[0].intersection(*every[1:]):
                    if item[li] in decided:
                        continue
                    edits = sum(
                        0 if li in exact else 1 if li in one else 2 for exact, one, _ in levels
                    )
                    by_edits.setdefault(edits, set()).add(li)
        b = _budget(len(qc))
        for n in range(len(qc) - b, len(qc) + b + 1) if b else ():
            for c, d, _ in process.extract(
                qc,
                self._compact_buckets.get((qc[0], n), ()),
                scorer=OSA.distance,
                score_cutoff=b,
                limit=None,
            ):
                by_edits.setdefault(d, set()).update(self._compact_labels[c])
        for edits in sorted(by_edits):
            if edits and hits.add_all(sorted(by_edits[edits]), FUZZY - 2 * edits):
                return True
        return False


class _Word:
    """One query word: which vocabulary tokens it matches and how, worked out lazily."""

    __slots__ = ("_index", "_sets", "_stems", "_typos", "hi", "lo", "text")

    def __init__(self, index: LabelIndex, text: str) -> None:
        self._index = index
        self.text = text
        self.lo, self.hi = index._prefix_range(text)
        self._stems: frozenset[str] | None = None
        self._typos: dict[str, int] | None = None
        self._sets: list[set[int]] = []

    def stems(self) -> frozenset[str]:
        """Tokens with the word's Danish stem that it is not a prefix of ("vasker" -> "vaske")."""
        if self._stems is None:
            ix = self._index
            same = ix._stems.get(_stem(self.text), ())
            self._stems = frozenset(t for t in same if not t.startswith(self.text))
        return self._stems

    def typos(self) -> dict[str, int]:
        """Other tokens within the word's edit budget, with their OSA distance."""
        if self._typos is None:
            ix, w, b = self._index, self.text, _budget(len(self.text))
            stems = self.stems()
            self._typos = {}
            for n in range(len(w) - b, len(w) + b + 1) if b else ():
                for t, d, _ in process.extract(
                    w, ix._by_length.get(n, ()), scorer=OSA.distance, score_cutoff=b, limit=None
                ):
                    if not t.startswith(w) and t not in stems:
                        self._typos[t] = d
        return self._typos

    def tokens(self, kind: int) -> Iterable[str]:
        if kind == PREFIX:
            return self._index._vocab[self.lo : self.hi]
        if kind == STEMMED:
            return self.stems()
        return [t for t, d in self.typos().items() if d == kind - 1]

    def size(self, kind: int) -> int:
        """Posting entries of the tokens matching at ``kind`` or better: a cheap size bound."""
        ix = self._index
        n = ix._cum[self.hi] - ix._cum[self.lo]
        for k in range(STEMMED, kind + 1):
            n += sum(len(ix._postings[t]) for t in self.tokens(k))
        return n

    def upto(self, kind: int) -> set[int]:
        """Label numbers with a word matching at ``kind`` or better (cached, do not modify)."""
        while len(self._sets) <= kind:
            postings = [self._index._postings[t] for t in self.tokens(len(self._sets))]
            previous = self._sets[-1] if self._sets else set()
            self._sets.append(previous.union(*postings) if postings else previous)
        return self._sets[kind]

    def matches(self, tokens: tuple[str, ...], kind: int) -> bool:
        """Whether one of a label's tokens matches at ``kind`` or better (PREFIX or STEMMED)."""
        w = self.text
        if kind == PREFIX:
            return any(t.startswith(w) for t in tokens)
        stems = self.stems()
        return any(t.startswith(w) or t in stems for t in tokens)

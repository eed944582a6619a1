"""Melody search: which pieces hold a phrase that goes like the query, in any key, and where.

Two passes, as FolkFriend and Peachnote do it:
1. candidates: the query's interval n-grams (n notes' intervals, transposition-invariant) looked
   up in an inverted index of every piece's n-grams; each piece scores the sum of the idf
   (log(pieces / pieces holding it)) of the query n-grams it holds; the best `candidates` go on;
2. ranking: local alignment (Smith-Waterman) of the query's intervals with each candidate's.
   The scores, in units where a whole exact match scores 1.0 after dividing by 2 x the query's
   intervals:
   - the same interval +2 (+0.5 more when the two notes' duration ratio agrees, rounded to a power of 2);
     an interval a semitone off +0.5 (a modal variant); another -1;
   - one query interval matched by two of the piece's that sum to it, or two of the query's by
     one, +2 - 1 (an ornament, a passing or a repeated note);
   - an interval of either left unmatched -1 (a gap).
   Modes: "intervals" (the above), "contour" (only up / down / repeat, the Parsons code: no
   semitone credit, no merged intervals), "exact" (all the query's intervals, in a row, in the
   piece: scored as the above, 1.0 and more, or not at all).
A match says where it is: the first and last note of the piece it covers.

Melody and meaning in one ranking ("a reel that goes like this", `blend`): each aligned piece's
score plus TEXT_WEIGHT x the z-score of its text similarity among the pieces searched (its
cosine to the words, less their mean, over their standard deviation). A piece two standard
deviations closer to the words than the average gains 0.2, what one interval of a five-interval
query is worth: the words reorder pieces that go alike, they do not lift one that does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..formats.melody import Melody

MODES = ("intervals", "contour", "exact")
NGRAM = 3                    # intervals per n-gram (4 notes)
MAX_INTERVAL = 24            # larger leaps are clipped: two octaves is as far as a tune jumps
MIN_QUERY_NOTES = NGRAM + 1
SAME, NEAR, OTHER, MERGED, GAP, RHYTHM = 2.0, 0.5, -1.0, 1.0, 1.0, 0.5
TEXT_WEIGHT = 0.1


@dataclass(frozen=True)
class MelodyMatch:
    piece: int          # position in the index's melodies
    score: float        # the alignment's, over 2 x the query's intervals (1.0: all of it, exactly)
    first_note: int     # the piece's notes the match covers, first and last (0-based)
    last_note: int


def symbols(melody: Melody, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(interval symbols, rhythm symbols) of a melody in `mode`: semitones clipped to +-24, or
    their signs for contour; rhythm: log2 of each duration ratio, rounded and clipped to +-3."""
    if mode not in MODES:
        raise InputError(f"melody mode must be {', '.join(MODES)}, not '{mode}'")
    intervals = np.clip(melody.intervals(), -MAX_INTERVAL, MAX_INTERVAL).astype(np.int16)
    if mode == "contour":
        intervals = np.sign(intervals).astype(np.int16)
    d = np.maximum(melody.durations.astype(np.float64), 1e-3)
    rhythm = np.clip(np.rint(np.log2(d[1:] / d[:-1])), -3, 3).astype(np.int8) if len(d) > 1 else np.zeros(0, np.int8)
    return intervals, rhythm


def _codes(s: np.ndarray, n: int) -> np.ndarray:
    """The n-gram codes at each position of a symbol array (len - n + 1 of them)."""
    if len(s) < n:
        return np.zeros(0, dtype=np.int64)
    base = 2 * MAX_INTERVAL + 1
    shifted = s.astype(np.int64) + MAX_INTERVAL
    code = np.zeros(len(s) - n + 1, dtype=np.int64)
    for k in range(n):
        code = code * base + shifted[k:len(s) - n + 1 + k]
    return code


class MelodyIndex:
    """The melodies of a collection, searchable by how they go. Built in memory from the melodies
    (a library keeps the melodies; this is what a search makes of them)."""

    def __init__(self, melodies: Sequence[Melody], mode: str = "intervals"):
        self.mode = mode
        self.melodies = list(melodies)
        syms = [symbols(m, mode) for m in self.melodies]
        self.intervals = [s for s, _ in syms]
        self.rhythms = [r for _, r in syms]
        pairs = [(np.unique(_codes(s, NGRAM)), i) for i, s in enumerate(self.intervals)]
        codes = np.concatenate([c for c, _ in pairs]) if pairs else np.zeros(0, np.int64)
        owners = np.concatenate([np.full(len(c), i, dtype=np.int32) for c, i in pairs]) if pairs \
            else np.zeros(0, np.int32)
        order = np.argsort(codes, kind="stable")
        self._codes, self._owners = codes[order], owners[order]

    def __len__(self) -> int:
        return len(self.melodies)

    def nbytes(self) -> int:
        """Memory of the index (its n-gram table and symbols), not of the melodies."""
        return int(self._codes.nbytes + self._owners.nbytes + sum(s.nbytes for s in self.intervals)
                   + sum(r.nbytes for r in self.rhythms))

    def _query_codes(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The query's n-gram codes and their weights: 1, and in "intervals" mode 0.5 for those of
        the query with one note left out (two intervals merged): a query with an ornament still
        finds its tune."""
        codes = np.unique(_codes(query, NGRAM))
        weight = np.ones(len(codes))
        if self.mode == "intervals" and len(query) > NGRAM:
            merged = [np.concatenate([query[:i], [query[i] + query[i + 1]], query[i + 2:]]) for i in range(len(query) - 1)]
            extra = np.setdiff1d(np.unique(np.concatenate([_codes(np.clip(m, -MAX_INTERVAL, MAX_INTERVAL), NGRAM)
                                                           for m in merged])), codes)
            codes, weight = np.concatenate([codes, extra]), np.concatenate([weight, np.full(len(extra), 0.5)])
        return codes, weight

    def candidates(self, query: np.ndarray, k: int) -> np.ndarray:
        """The (at most) k pieces sharing the most idf-weighted n-grams with the query's symbols
        (those of _query_codes)."""
        return self._candidates(*self._query_codes(query), k)

    def _candidates(self, codes: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
        lo = np.searchsorted(self._codes, codes, side="left")
        hi = np.searchsorted(self._codes, codes, side="right")
        df = hi - lo
        held = df > 0
        if not held.any():
            return np.zeros(0, dtype=np.int64)
        lo, hi, idf = lo[held], hi[held], (np.log(len(self) / df[held]) + 1e-3) * weight[held]
        positions = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])
        weights = np.repeat(idf, hi - lo)
        scores = np.bincount(self._owners[positions], weights=weights, minlength=len(self))
        found = np.flatnonzero(scores)
        if len(found) > k:
            found = found[np.argpartition(-scores[found], k - 1)[:k]]
        return found[np.argsort(-scores[found], kind="stable")]

    def _windows(self, piece: int, codes: np.ndarray, span: int) -> list[tuple[int, int]]:
        """The parts of a piece worth aligning: `span` intervals (a query length) either side of
        every place one of the query's n-grams falls, merged where they meet; the whole piece in
        exact mode (its matching is cheap), when it is short, or when no n-gram falls in it. A
        match holding one of the query's n-grams is always inside a part."""
        t = self.intervals[piece]
        if self.mode == "exact" or len(t) <= 4 * span + NGRAM:
            return [(0, len(t))]
        hits = np.flatnonzero(np.isin(_codes(t, NGRAM), codes))
        if not len(hits):
            return [(0, len(t))]
        starts, ends = np.maximum(hits - span, 0), np.minimum(hits + span + NGRAM, len(t))
        new = np.ones(len(hits), dtype=bool)
        new[1:] = starts[1:] > ends[:-1]
        ends = np.maximum.accumulate(ends)                  # each run of overlapping parts is one part
        firsts = np.flatnonzero(new)
        lasts = np.append(firsts[1:] - 1, len(hits) - 1)
        return [(int(starts[f]), int(ends[e])) for f, e in zip(firsts, lasts)]

    def search(self, query: Melody, top: int = 10, candidates: int = 200) -> list[MelodyMatch]:
        """The `top` pieces best aligned with the query, best first."""
        if len(query) < MIN_QUERY_NOTES:
            raise InputError(f"a melody query needs at least {MIN_QUERY_NOTES} notes (this one has {len(query)})")
        q, qr = symbols(query, self.mode)
        codes, weight = self._query_codes(q)
        picked = self._candidates(codes, weight, candidates)
        if not len(picked):
            return []
        parts = [(k, a, b) for k, i in enumerate(picked) for a, b in self._windows(i, codes, len(q))]
        scores, firsts, lasts = align(q, qr, [self.intervals[picked[k]][a:b] for k, a, b in parts],
                                      [self.rhythms[picked[k]][a:b] for k, a, b in parts], self.mode)
        best: dict[int, tuple[float, int, int]] = {}        # each piece's best part
        for (k, a, _), score, first, last in zip(parts, scores, firsts, lasts):
            if k not in best or score > best[k][0]:
                best[k] = (float(score), int(first) + a, int(last) + a)
        order = sorted(best, key=lambda k: (-best[k][0], picked[k]))[:top]
        return [MelodyMatch(int(picked[k]), *best[k]) for k in order if best[k][0] > 0]


@dataclass(frozen=True)
class BlendedMatch:
    match: MelodyMatch
    similarity: float   # the piece's cosine to the words
    score: float        # match.score + weight x the similarity's z-score among the pieces searched


def blend(matches: Sequence[MelodyMatch], similarity: np.ndarray, weight: float = TEXT_WEIGHT,
          top: int | None = None) -> list[BlendedMatch]:
    """The matches reranked by melody and meaning (the rule in the module's docstring); `similarity`
    holds every searched piece's cosine to the words (NaN for a piece without a vector: no gain)."""
    known = similarity[np.isfinite(similarity)]
    mean, spread = (float(known.mean()), float(known.std())) if len(known) else (0.0, 0.0)
    out = []
    for m in matches:
        s = float(similarity[m.piece])
        z = (s - mean) / spread if np.isfinite(s) and spread > 0 else 0.0
        out.append(BlendedMatch(m, s, m.score + weight * z))
    out.sort(key=lambda b: (-b.score, b.match.piece))
    return out[:top] if top is not None else out


INCIPIT = 48            # notes of each piece that look for its variants when grouping
GROUP_THRESHOLD = 0.8


def families(index: MelodyIndex, threshold: float = GROUP_THRESHOLD, incipit: int = INCIPIT,
             candidates: int = 50) -> list[list[int]]:
    """The pieces grouped into families of variants: each piece's first `incipit` notes are
    searched for in the others; two pieces are joined when each one's incipit matches in the
    other with a score of `threshold` or more (0.8: most of the incipit's intervals aligned, a
    few ornaments or changed notes allowed; asking it both ways keeps a short phrase common to
    many tunes from joining them), and a family is what is joined, directly or through others
    (single linkage). Families of two or more, largest first, each in index order."""
    found: set[tuple[int, int]] = set()
    for i, melody in enumerate(index.melodies):
        if len(melody) < MIN_QUERY_NOTES:
            continue
        query = melody.excerpt(0, min(incipit, len(melody)))
        found.update((i, m.piece) for m in index.search(query, top=candidates, candidates=candidates)
                     if m.piece != i and m.score >= threshold)
    parent = list(range(len(index)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in sorted(found):
        if i < j and (j, i) in found:
            a, b = root(i), root(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(index)):
        groups.setdefault(root(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g[0]))


def align(query: np.ndarray, query_rhythm: np.ndarray, targets: Sequence[np.ndarray],
          target_rhythms: Sequence[np.ndarray], mode: str = "intervals") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local alignment of the query's symbols with each target's (the scores in the module's
    docstring), all targets at once: one numpy pass per query symbol over the targets laid end
    to end. Returns each target's best score (over 2 x the query's length), and the first and
    last note of the match in it."""
    if not len(query):
        raise InputError("a melody query needs at least two notes")
    if mode == "exact":
        return _exact(query, query_rhythm, targets, target_rhythms)
    merge = mode == "intervals"
    other, gap = OTHER, GAP
    lengths = np.array([len(t) for t in targets], dtype=np.int64)
    sep = 1                                                   # one barrier column before each target
    starts = np.concatenate([[0], np.cumsum(lengths + sep)[:-1]]) + sep
    width = int(starts[-1] + lengths[-1]) if len(targets) else 0
    t = np.full(width, 10 * MAX_INTERVAL, dtype=np.int64)     # the barrier matches nothing
    tr = np.zeros(width, dtype=np.int64)
    segment = np.zeros(width, dtype=np.int64)
    for i, (s, r, a) in enumerate(zip(targets, target_rhythms, starts)):
        t[a:a + len(s)] = s
        tr[a:a + len(s)] = r
        segment[a - sep:a + len(s)] = i
    barrier = t == 10 * MAX_INTERVAL
    column = np.arange(width, dtype=np.int64)
    # a horizontal gap never crosses into the next target: each target's running max starts above the last's
    lift = segment.astype(np.float64) * (4.0 * (len(query) * (SAME + RHYTHM) + gap * width + 1.0))
    t2 = np.full(width, 10 * MAX_INTERVAL, dtype=np.int64)    # two intervals of the target, ending at each column
    t2[1:] = np.where(barrier[1:] | barrier[:-1], 10 * MAX_INTERVAL, t[1:] + t[:-1])

    def pair_score(q_sym, t_sym):
        d = np.abs(t_sym - q_sym)
        return np.where(d == 0, SAME, np.where((d == 1) & (mode != "contour"), NEAR, other))

    zero = np.zeros(width)
    h_prev2, h_prev = zero, zero.copy()
    s_prev2, s_prev = column.copy(), column.copy()           # where each cell's alignment starts
    top = np.zeros(width)                                     # each column's best cell over the rows so far
    top_start = column.copy()
    for i, q_sym in enumerate(query):
        diag = np.full(width, -np.inf)
        diag[1:] = h_prev[:-1] + pair_score(q_sym, t[1:]) + np.where(tr[1:] == query_rhythm[i], RHYTHM, 0.0) * (
            t[1:] == q_sym)
        diag_start = np.empty(width, dtype=np.int64)
        diag_start[0] = 0
        diag_start[1:] = np.where(h_prev[:-1] > 0, s_prev[:-1], column[1:])
        cand = [diag, h_prev - gap]
        cand_start = [diag_start, s_prev]
        if merge:
            split = np.full(width, -np.inf)                   # the query's interval = two of the target's
            split[2:] = h_prev[:-2] + np.where(t2[2:] == q_sym, SAME - MERGED, -np.inf)
            split_start = np.empty(width, dtype=np.int64)
            split_start[:2] = column[:2]
            split_start[2:] = np.where(h_prev[:-2] > 0, s_prev[:-2], column[1:-1])
            cand += [split]
            cand_start += [split_start]
            if i > 0:                                         # two of the query's = one of the target's
                joined = np.full(width, -np.inf)
                joined[1:] = h_prev2[:-1] + np.where(t[1:] == q_sym + query[i - 1], SAME - MERGED, -np.inf)
                joined_start = np.empty(width, dtype=np.int64)
                joined_start[0] = 0
                joined_start[1:] = np.where(h_prev2[:-1] > 0, s_prev2[:-1], column[1:])
                cand += [joined]
                cand_start += [joined_start]
        stacked = np.vstack(cand)
        choice = np.argmax(stacked, axis=0)
        d = stacked[choice, column]
        d_start = np.vstack(cand_start)[choice, column]
        d_start = np.where(d > 0, d_start, column)
        d = np.maximum(d, 0.0)
        d[barrier] = 0.0
        # H[j] = max(D[j], max over k < j of D[k] - gap * (j - k)): a running max, within each target
        lifted = d + gap * column + lift
        running = np.maximum.accumulate(lifted)
        at = np.maximum.accumulate(np.where(lifted == running, column, 0))
        h = running - gap * column - lift
        h_start = d_start[at]
        h[barrier] = 0.0
        h_prev2, h_prev, s_prev2, s_prev = h_prev, h, s_prev, h_start
        better = h > top
        top = np.where(better, h, top)
        top_start = np.where(better, h_start, top_start)
    best = np.zeros(len(targets))
    first = np.zeros(len(targets), dtype=np.int64)
    last = np.zeros(len(targets), dtype=np.int64)
    for k, (a, n) in enumerate(zip(starts, lengths)):
        if n:
            j = int(np.argmax(top[a:a + n]))
            best[k], first[k], last[k] = top[a + j], top_start[a + j] - a, j + 1
    return best / (2.0 * len(query)), first, last


def _exact(query: np.ndarray, query_rhythm: np.ndarray, targets: Sequence[np.ndarray],
           target_rhythms: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """align's "exact" mode: where every query interval follows in a row."""
    from numpy.lib.stride_tricks import sliding_window_view

    n = len(query)
    best = np.zeros(len(targets))
    first = np.zeros(len(targets), dtype=np.int64)
    for k, (t, r) in enumerate(zip(targets, target_rhythms)):
        if len(t) < n:
            continue
        at = np.flatnonzero((sliding_window_view(t, n) == query).all(axis=1))
        if len(at):
            agree = (sliding_window_view(r, n)[at] == query_rhythm).sum(axis=1)
            j = int(np.argmax(agree))
            best[k], first[k] = (SAME * n + RHYTHM * agree[j]) / (2.0 * n), at[j]
    return best, first, first + n

"""Theme discovery: groups of recent negative feedback that no topic matched, named by their distinctive words.

Clustering is agglomerative with average linkage on cosine similarity, stopped at a distance threshold:
- the number of themes is not chosen in advance and unrelated feedback stays on its own (k-means would force
  every text into some cluster and needs k, picked by silhouette at O(n²) per candidate k);
- average linkage does not chain distinct themes together through a few bridging texts the way single
  linkage (and DBSCAN's connected components) can, and unlike complete linkage it tolerates loose paraphrases;
- on unit vectors the average similarity between two clusters is exact from the n × n similarity matrix
  updated by the Lance–Williams rule, and each merge only refreshes the row maxima it invalidated, so
  n ≤ 5,000 runs in about a second with O(n²) float32 memory (100 MB at 5,000).
Clusters smaller than `min_size` are dropped. Terms are ranked by class-based TF-IDF: a term's frequency in
the theme times log(1 + average words per class / the term's frequency over all classes), with everything
unclustered as one more class, so words common to all complaints do not name a theme.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

# Calibrated on the MiniLM encoder: rephrasings of one complaint average ~0.45–0.5 cosine similarity,
# unrelated complaints ~0.2, so themes are groups averaging at least 0.4.
DEFAULT_DISTANCE_THRESHOLD = 0.6
DEFAULT_MIN_SIZE = 10
DEFAULT_TOP_TERMS = 8
DEFAULT_EXAMPLES = 3
# A term must appear in at least this many of a theme's texts to name it.
MIN_TERM_DOCUMENTS = 2

_STOP_WORDS_TEXT = """
    a about above after again against all almost also am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each even ever every few for from further get gets getting got had hadn't has hasn't have haven't
    having he he'd he'll he's her here here's hers herself him himself his how how's however i i'd i'll i'm
    i've if in into is isn't it it's its itself just let's like me more most much must mustn't my myself no nor
    not now of off on once only or other ought our ours ourselves out over own really same shan't she she'd
    she'll she's should shouldn't so some still such than that that's the their theirs them themselves then
    there there's these they they'd they'll they're they've this those though through to too under until up
    upon us very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's which
    while who who's whom why why's will with won't would wouldn't yet you you'd you'll you're you've your yours
    yourself yourselves im ive dont cant wont didnt doesnt isnt wasnt arent also already always another anyone
    anything around back been cant else enough etc ever everything go going gone one ones said say says see
    seems since something thing things two way well went whole within without yeah yes
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


@dataclass(frozen=True, slots=True)
class DiscoveredTheme:
    """A group of similar texts: who is in it, what it is about, how tight it is."""

    key: str
    size: int
    top_terms: list[str]
    examples: list[str]
    member_indices: list[int]
    centroid: npt.NDArray[np.float32]
    cohesion: float


def normalise(embeddings: npt.ArrayLike) -> FloatArray:
    """Rows scaled to unit length as float32 (zero rows stay zero)."""
    matrix = np.asarray(embeddings, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def average_linkage(embeddings: FloatArray, distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD) -> list[list[int]]:
    """Clusters of unit vectors merged while their average pairwise cosine distance stays within the threshold.

    Returns every cluster (singletons included) as sorted member indices, largest first.
    """
    n = embeddings.shape[0]
    if n == 0:
        return []
    min_similarity = np.float32(1.0 - distance_threshold)
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, -np.inf)
    sizes = np.ones(n, dtype=np.float32)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    best = similarity.max(axis=1)
    best_index = similarity.argmax(axis=1)
    while n > 1:
        i = int(np.argmax(best))
        if not best[i] >= min_similarity:
            break
        j = int(best_index[i])
        merged = (sizes[i] * similarity[i] + sizes[j] * similarity[j]) / (sizes[i] + sizes[j])
        merged[i] = merged[j] = -np.inf
        similarity[i, :] = merged
        similarity[:, i] = merged
        similarity[j, :] = -np.inf
        similarity[:, j] = -np.inf
        sizes[i] += sizes[j]
        members[i].extend(members.pop(j))
        best[j] = -np.inf
        best[i] = merged.max()
        best_index[i] = merged.argmax()
        stale = np.flatnonzero((best_index == i) | (best_index == j))
        stale = stale[(stale != i) & (stale != j)]
        if stale.size:
            best[stale] = similarity[stale].max(axis=1)
            best_index[stale] = similarity[stale].argmax(axis=1)
        improved = merged > best
        best[improved] = merged[improved]
        best_index[improved] = i
    return sorted((sorted(group) for group in members.values()), key=lambda g: (-len(g), g[0]))


def tokens(text: str) -> list[str]:
    """Lower-cased words of a text, stop words and one-letter words removed, with adjacent pairs as bigrams."""
    words = [w.strip("'’-").replace("’", "'") for w in _WORD.findall(text.lower())]
    kept = [w if len(w) > 1 and w not in STOP_WORDS else None for w in words]
    unigrams = [w for w in kept if w is not None]
    bigrams = [f"{a} {b}" for a, b in itertools.pairwise(kept) if a is not None and b is not None]
    return unigrams + bigrams


def class_tfidf(classes: Sequence[Sequence[str]], top: int = DEFAULT_TOP_TERMS) -> list[list[str]]:
    """The most distinctive terms of each class of texts (class-based TF-IDF).

    tf is a term's share of its class's terms, idf = log(1 + A / f) with A the average number of terms per class
    and f the term's frequency over all classes. Terms in fewer than two of the class's texts are ignored, and a
    unigram already covered by a chosen bigram is skipped so names don't repeat themselves.
    """
    documents = [[tokens(text) for text in texts] for texts in classes]
    counts = [Counter(term for doc in docs for term in doc) for docs in documents]
    spread = [Counter(term for doc in docs for term in set(doc)) for docs in documents]
    overall: Counter[str] = Counter()
    for counter in counts:
        overall.update(counter)
    sizes = [sum(counter.values()) for counter in counts]
    average = sum(sizes) / max(1, len(sizes))
    named = []
    for counter, in_docs, size, docs in zip(counts, spread, sizes, documents, strict=True):
        minimum = min(MIN_TERM_DOCUMENTS, len(docs))
        scored = [
            (count / size * math.log(1.0 + average / overall[term]), term)
            for term, count in counter.items()
            if in_docs[term] >= minimum
        ]
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        chosen: list[str] = []
        for _, term in scored:
            if len(chosen) >= top:
                break
            if " " not in term and any(term in bigram.split() for bigram in chosen if " " in bigram):
                continue
            chosen.append(term)
        named.append(chosen)
    return named


def theme_key(ids: Sequence[str]) -> str:
    """A stable key for a set of members: the same ids in any order give the same key."""
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    return f"theme_{digest[:16]}"


def discover_themes(
    embeddings: npt.ArrayLike,
    texts: Sequence[str],
    ids: Sequence[str] | None = None,
    *,
    distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD,
    min_size: int = DEFAULT_MIN_SIZE,
    top_terms: int = DEFAULT_TOP_TERMS,
    examples: int = DEFAULT_EXAMPLES,
) -> list[DiscoveredTheme]:
    """Themes among texts and their embeddings (n × d, normalised here if they aren't), largest first.

    `ids` (the feedback ids, default the texts' positions) make each theme's key; examples are the distinct texts
    nearest the centroid.
    """
    matrix = normalise(embeddings)
    if matrix.shape[0] != len(texts):
        raise ValueError(f"{matrix.shape[0]} embeddings for {len(texts)} texts")
    member_ids = [str(i) for i in range(len(texts))] if ids is None else [str(i) for i in ids]
    if len(member_ids) != len(texts):
        raise ValueError(f"{len(member_ids)} ids for {len(texts)} texts")
    if not 0.0 < distance_threshold < 2.0:
        raise ValueError("distance_threshold is a cosine distance, between 0 and 2")
    groups = [g for g in average_linkage(matrix, distance_threshold) if len(g) >= max(2, min_size)]
    if not groups:
        return []
    clustered = {i for group in groups for i in group}
    rest = [texts[i] for i in range(len(texts)) if i not in clustered]
    names = class_tfidf([[texts[i] for i in group] for group in groups] + [rest], top_terms)
    themes = []
    for group, terms in zip(groups, names, strict=False):
        vectors = matrix[group]
        total = vectors.sum(axis=0, dtype=np.float64)
        size = len(group)
        cohesion = (float(total @ total) - size) / (size * (size - 1))
        centroid = (total / np.linalg.norm(total)).astype(np.float32)
        order = np.argsort(-(vectors @ centroid), kind="stable")
        chosen: list[str] = []
        for position in order:
            text = texts[group[int(position)]]
            if text.strip().lower() not in {c.strip().lower() for c in chosen}:
                chosen.append(text)
            if len(chosen) >= examples:
                break
        themes.append(
            DiscoveredTheme(
                key=theme_key([member_ids[i] for i in group]),
                size=size,
                top_terms=terms,
                examples=chosen,
                member_indices=group,
                centroid=centroid,
                cohesion=cohesion,
            )
        )
    return themes

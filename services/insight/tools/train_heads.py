"""Train the default sentiment, emotion and intent heads on shippable data; write models/heads.npz (numpy only).

Run from the repository root with the project's venv: `python services/insight/tools/train_heads.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora as C
from embed_cache import CachedEncoder
from seeds import SEEDS

from cxm_insight.nlp.analysis import EMOTIONS, INTENTS, SENTIMENTS
from cxm_insight.nlp.encoder import Encoder
from cxm_insight.nlp.heads import Heads, base_features, save_heads
from cxm_insight.nlp.linear import LinearModel, balanced_weights, fit_linear
from cxm_insight.nlp.paths import HEADS_FILE, MODELS_DIR
from cxm_insight.nlp.text import clean_text

HEADS_VERSION = "heads-1"
# Unprompted CX feedback skews negative and praise is the rarest kind. The heads are trained class-balanced, so
# this prior is added to their logits at run time (a product assumption, not fitted to any evaluation set).
SENTIMENT_PRIOR = {"negative": 0.5, "neutral": 0.3, "positive": 0.2}
# Each source gets the same total weight, so 150 hand-written CX utterances count as much as 36k Reddit comments:
# they are the only in-domain examples of complaints without emotional words.
SOURCE_WEIGHT = {"goemotions": 1.0, "banking77": 1.0, "bitext": 0.5, "seeds": 0.5}
INTENT_SAMPLE = 1500
RNG_SEED = 0


def features(cache: CachedEncoder, texts: list[str], name: str) -> np.ndarray:
    """Head features (embedding + cues) of raw texts."""
    return base_features(cache.embed(texts, name), [clean_text(t) for t in texts])


def per_source_weights(sources: np.ndarray, y: np.ndarray, classes: int) -> np.ndarray:
    """Class-balanced weights within each source, scaled so each source totals its SOURCE_WEIGHT."""
    w = np.zeros(len(y))
    for source in np.unique(sources):
        rows = sources == source
        w[rows] = balanced_weights(y[rows], classes) * SOURCE_WEIGHT.get(str(source), 1.0) / rows.sum()
    return w


def equalise_classes(w: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rescale weights so every present class carries the same total weight."""
    out = w.copy()
    present = np.unique(y)
    for k in present:
        out[y == k] *= w.sum() / (len(present) * w[y == k].sum())
    return out


def train_sentiment(cache: CachedEncoder) -> tuple[LinearModel, dict[str, dict[str, int]]]:
    """Sentiment: GoEmotions groups, Banking77/Bitext problem reports vs questions, and the seeds."""
    rows = C.sentiment_rows() + [C.Row("seeds", text, sentiment) for _, sentiment, text in SEEDS]
    texts = [r.text for r in rows]
    sources = np.array([r.source for r in rows])
    y = np.array([SENTIMENTS.index(r.label) for r in rows])
    x = features(cache, texts, "sentiment")
    model = fit_linear(x, np.eye(3)[y], SENTIMENTS, l2=1.0, sample_weight=per_source_weights(sources, y, 3))
    counts = {s: dict(Counter(r.label for r in rows if r.source == s)) for s in sorted(set(sources.tolist()))}
    return model, counts


def train_emotions(cache: CachedEncoder) -> tuple[LinearModel, np.ndarray, dict[str, int]]:
    """Emotions: one-vs-rest on GoEmotions train; each threshold maximises that emotion's F1 on GoEmotions dev."""

    def split(name: str) -> tuple[np.ndarray, np.ndarray]:
        """Features and multi-hot CX-emotion targets of one GoEmotions split."""
        rows = C.goemotions(name)
        y = np.zeros((len(rows), len(EMOTIONS)))
        for i, (_, labels) in enumerate(rows):
            for k, emotion in enumerate(EMOTIONS):
                y[i, k] = float(any(label in C.EMOTION_SOURCES[emotion] for label in labels))
        return features(cache, [t for t, _ in rows], f"goemotions-{name}"), y

    x, y = split("train")
    model = fit_linear(x, y, EMOTIONS, l2=1.0, multilabel=True)
    x_dev, y_dev = split("dev")
    p = model.predict_proba(x_dev)
    thresholds = np.array([best_threshold(p[:, k], y_dev[:, k]) for k in range(len(EMOTIONS))])
    return model, thresholds, {"goemotions_train": len(x), "goemotions_dev": len(x_dev)}


def best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The probability cut-off that maximises F1 for one class."""
    best, best_f1 = 0.5, -1.0
    for t in np.arange(0.1, 0.9, 0.025):
        predicted = p >= t
        tp = float((predicted & (y > 0)).sum())
        f1 = 2 * tp / max(float(predicted.sum() + (y > 0).sum()), 1.0)
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return round(best, 3)


def intent_rows(rng: np.random.Generator) -> list[C.Row]:
    """Intent examples: Banking77/Bitext mapped by category name, GoEmotions praise/gripes, and the seeds."""
    rows: list[C.Row] = []
    banking = C.banking77()
    mapped = [
        "churn_threat" if r.label in C.BANKING_CHURN else "complaint" if C.banking_is_problem(r.label) else "question"
        for r in banking
    ]
    rows += sample([C.Row("banking77", r.text, m) for r, m in zip(banking, mapped, strict=True)], rng)
    bitext_map = {name: "complaint" for name in C.BITEXT_NEGATIVE} | {name: "churn_threat" for name in C.BITEXT_CHURN}
    rows += sample(
        [C.Row("bitext", r.text, bitext_map.get(r.label, "question")) for r in C.bitext() if r.label != "review"], rng
    )
    praise, gripe = {"gratitude", "admiration", "approval", "love", "joy"}, {"anger", "annoyance", "disappointment"}
    emotions = []
    for text, labels in C.goemotions("train"):
        if set(labels) <= praise:
            emotions.append(C.Row("goemotions", text, "praise"))
        elif set(labels) <= gripe:
            emotions.append(C.Row("goemotions", text, "complaint"))
        elif labels == ("neutral",) and "?" not in text:
            emotions.append(C.Row("goemotions", text, "other"))
    rows += sample(emotions, rng)
    rows += [C.Row("seeds", text, intent) for intent, _, text in SEEDS]
    return rows


def sample(rows: list[C.Row], rng: np.random.Generator) -> list[C.Row]:
    """At most INTENT_SAMPLE rows of each label, a reproducible random subset in original order."""
    keep: list[int] = []
    for label in sorted({r.label for r in rows}):
        members = [i for i, r in enumerate(rows) if r.label == label]
        if len(members) > INTENT_SAMPLE:
            members = rng.choice(members, size=INTENT_SAMPLE, replace=False).tolist()
        keep += members
    return [rows[i] for i in sorted(keep)]


def train_intent(cache: CachedEncoder) -> tuple[LinearModel, dict[str, dict[str, int]]]:
    """Intent head: classes balanced within each source, then every intent given the same total weight."""
    rows = intent_rows(np.random.default_rng(RNG_SEED))
    texts = [r.text for r in rows]
    sources = np.array([r.source for r in rows])
    y = np.array([INTENTS.index(r.label) for r in rows])
    x = features(cache, texts, "intent")
    w = equalise_classes(per_source_weights(sources, y, len(INTENTS)), y)
    model = fit_linear(x, np.eye(len(INTENTS))[y], INTENTS, l2=1.0, sample_weight=w)
    counts = {s: dict(Counter(r.label for r in rows if r.source == s)) for s in sorted(set(sources.tolist()))}
    return model, counts


def main() -> None:
    """Train every head and write heads.npz plus heads.json (what they were trained on) beside it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="the models folder (holds the encoder)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads for embedding")
    args = parser.parse_args()
    encoder = Encoder.load(args.out, threads=args.threads)
    cache = CachedEncoder(encoder)
    sentiment, sentiment_counts = train_sentiment(cache)
    print("sentiment head trained", flush=True)
    emotions, thresholds, emotion_counts = train_emotions(cache)
    named = dict(zip(EMOTIONS, [round(float(t), 3) for t in thresholds], strict=True))
    print("emotion head trained; thresholds", named, flush=True)
    intent, intent_counts = train_intent(cache)
    print("intent head trained", flush=True)
    prior = np.log(np.array([SENTIMENT_PRIOR[s] for s in SENTIMENTS], dtype=np.float32))
    heads = Heads(HEADS_VERSION, sentiment, emotions, intent, prior, thresholds)
    save_heads(args.out / HEADS_FILE, heads)
    summary = {
        "version": HEADS_VERSION,
        "encoder": encoder.version,
        "features": "384-d sentence embedding + lexical cue features (cxm_insight/nlp/cues.py)",
        "sentiment": {"rows": sentiment_counts, "source_weight": SOURCE_WEIGHT, "prior": SENTIMENT_PRIOR},
        "emotions": {
            "rows": emotion_counts,
            "from_goemotions": {k: list(v) for k, v in C.EMOTION_SOURCES.items()},
            "thresholds": named,
        },
        "intent": {"rows": intent_counts},
    }
    (args.out / "heads.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print("wrote", args.out / HEADS_FILE)


if __name__ == "__main__":
    main()

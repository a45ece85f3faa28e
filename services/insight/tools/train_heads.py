"""Train the default sentiment, emotion and intent heads on shippable data and write models/heads.npz (numpy only)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora as C
from embed_cache import embed
from seeds import SEEDS

from cxm_insight.nlp.analysis import EMOTIONS, INTENTS, SENTIMENTS
from cxm_insight.nlp.encoder import Encoder
from cxm_insight.nlp.heads import base_features, save_heads
from cxm_insight.nlp.linear import LinearModel, balanced_weights, fit_linear
from cxm_insight.nlp.paths import HEADS_FILE, MODELS_DIR
from cxm_insight.nlp.text import clean_text

HEADS_VERSION = "heads-1"
# Support channels skew negative: most unprompted feedback is a complaint, praise is rarest. The heads are trained
# class-balanced, so this prior is added to their logits at run time.
SENTIMENT_PRIOR = {"negative": 0.60, "neutral": 0.25, "positive": 0.15}
SEED_WEIGHT = 1.0
INTENT_SEED_WEIGHT = 10.0
RNG_SEED = 0


class Corpus:
    """Texts with their embeddings and cleaned forms, grouped by source for weighting."""

    def __init__(self, encoder: Encoder) -> None:
        """Start empty."""
        self.encoder = encoder
        self.parts: list[tuple[str, list[str], np.ndarray, list[str]]] = []

    def add(self, source: str, texts: list[str], labels: list[str], cache_name: str) -> None:
        """Embed (through the cache) and keep one source's labelled texts."""
        if texts:
            self.parts.append((source, texts, embed(texts, cache_name, self.encoder), labels))

    def matrices(
        self, classes: tuple[str, ...], weights: dict[str, float]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, one-hot targets and sample weights (class-balanced within a source, source-weighted)."""
        xs, ys, ws = [], [], []
        for source, texts, emb, labels in self.parts:
            y = np.array([classes.index(label) for label in labels])
            w = balanced_weights(y, len(classes)) * weights.get(source, 1.0) / len(y)
            xs.append(base_features(emb, [clean_text(t) for t in texts]))
            ys.append(np.eye(len(classes))[y])
            ws.append(w)
        return np.vstack(xs), np.vstack(ys), np.concatenate(ws)


def sample(items: list[int], n: int, rng: np.random.Generator) -> list[int]:
    """Up to n items, a reproducible random subset in original order."""
    if len(items) <= n:
        return items
    return sorted(rng.choice(items, size=n, replace=False).tolist())


def train_sentiment(encoder: Encoder) -> tuple[LinearModel, dict[str, int]]:
    """Sentiment head: GoEmotions groups + Banking77/Bitext problem-vs-question + seeds, class-balanced per source."""
    corpus = Corpus(encoder)
    ge = list(C.goemotions_group("train"))
    corpus.add("goemotions", [r.text for r in ge], [r.label for r in ge], "goemotions-group-train")
    b77 = list(C.banking77())
    corpus.add("banking77", [r.text for r in b77], [r.label for r in b77], "banking77-sentiment")
    bt = list(C.bitext())
    corpus.add("bitext", [r.text for r in bt], [r.label for r in bt], "bitext-sentiment")
    seeds = [(s, t) for _, s, t in SEEDS]
    corpus.add("seeds", [t for _, t in seeds], [s for s, _ in seeds], "seeds-sentiment")
    x, y, w = corpus.matrices(SENTIMENTS, {"seeds": SEED_WEIGHT})
    counts = {source: len(texts) for source, texts, _, _ in corpus.parts}
    return fit_linear(x, y, SENTIMENTS, l2=1.0, sample_weight=w), counts


def train_emotions(encoder: Encoder) -> tuple[LinearModel, np.ndarray, dict[str, int]]:
    """Emotion head: one-vs-rest on GoEmotions train; thresholds chosen for F1 on GoEmotions dev."""

    def load(split: str) -> tuple[np.ndarray, np.ndarray]:
        """Features and multi-hot targets of one GoEmotions split."""
        rows = list(C.goemotions(split))
        texts = [t for t, _ in rows]
        emb = embed(texts, f"goemotions-{split}", encoder)
        y = np.zeros((len(rows), len(EMOTIONS)))
        for i, (_, labels) in enumerate(rows):
            for label in labels:
                mapped = C.EMOTION_FROM_GOEMOTIONS.get(label)
                if mapped:
                    y[i, EMOTIONS.index(mapped)] = 1.0
        return base_features(emb, [clean_text(t) for t in texts]), y

    x, y = load("train")
    head = fit_linear(x, y, EMOTIONS, l2=1.0, multilabel=True)
    xd, yd = load("dev")
    p = head.predict_proba(xd)
    thresholds = np.array([_best_threshold(p[:, k], yd[:, k]) for k in range(len(EMOTIONS))], dtype=np.float32)
    return head, thresholds, {"goemotions_train": len(x), "goemotions_dev": len(xd)}


def _best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The probability cut-off maximising F1 for one class."""
    best, best_f1 = 0.5, -1.0
    for t in np.arange(0.1, 0.9, 0.025):
        pred = p >= t
        tp = float((pred & (y > 0)).sum())
        f1 = 2 * tp / max(float(pred.sum() + (y > 0).sum()), 1.0)
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


def train_intent(encoder: Encoder) -> tuple[LinearModel, dict[str, int]]:
    """Intent head from mapped Banking77/Bitext/GoEmotions utterances plus the hand-written seeds."""
    rng = np.random.default_rng(RNG_SEED)
    corpus = Corpus(encoder)
    b77 = list(C.banking77_intents())
    b_label = []
    for r in b77:
        if r.label == "terminate_account":
            b_label.append("churn_threat")
        elif r.label in C.BANKING_PROBLEMS:
            b_label.append("complaint")
        elif r.label in C.BANKING_AMBIGUOUS:
            b_label.append("")
        else:
            b_label.append("question")
    keep = [i for i in range(len(b77)) if b_label[i] == "churn_threat"]
    for cls in ("complaint", "question"):
        keep += sample([i for i in range(len(b77)) if b_label[i] == cls], 1500, rng)
    keep.sort()
    corpus.add("banking77", [b77[i].text for i in keep], [b_label[i] for i in keep], "banking77-intent")
    bt = list(C.bitext_intents())
    bitext_map = {"complaint": "complaint", "payment_issue": "complaint", "registration_problems": "complaint"}
    bitext_map |= {"delete_account": "churn_threat", "review": ""}
    t_label = [bitext_map.get(r.label, "question") for r in bt]
    keep = [i for i in range(len(bt)) if t_label[i] and t_label[i] != "question"]
    keep += sample([i for i in range(len(bt)) if t_label[i] == "question"], 1500, rng)
    keep.sort()
    corpus.add("bitext", [bt[i].text for i in keep], [t_label[i] for i in keep], "bitext-intent")
    ge = list(C.goemotions("train"))
    praise = {"gratitude", "admiration", "approval", "love", "joy"}
    gripe = {"anger", "annoyance", "disapproval", "disappointment", "disgust"}
    g_label = []
    for _, labels in ge:
        if set(labels) <= praise:
            g_label.append("praise")
        elif set(labels) <= gripe:
            g_label.append("complaint")
        elif labels == ["neutral"]:
            g_label.append("other")
        else:
            g_label.append("")
    keep = []
    for cls, n in (("praise", 2000), ("complaint", 800), ("other", 2000)):
        keep += sample([i for i in range(len(ge)) if g_label[i] == cls], n, rng)
    keep.sort()
    corpus.add("goemotions", [ge[i][0] for i in keep], [g_label[i] for i in keep], "goemotions-intent")
    corpus.add("seeds", [t for _, _, t in SEEDS], [i for i, _, _ in SEEDS], "seeds-intent")
    x, y, w = _pooled_balance(corpus, INTENTS)
    counts = {source: len(texts) for source, texts, _, _ in corpus.parts}
    return fit_linear(x, y, INTENTS, l2=1.0, sample_weight=w), counts


def _pooled_balance(corpus: Corpus, classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features and targets over all sources; every class has the same total weight, and within a class a seed
    counts INTENT_SEED_WEIGHT times a mapped corpus row (the seeds follow the intent definitions most closely)."""
    xs, ys, boost = [], [], []
    for source, texts, emb, labels in corpus.parts:
        xs.append(base_features(emb, [clean_text(t) for t in texts]))
        ys.append(np.array([classes.index(label) for label in labels]))
        boost.append(np.full(len(texts), INTENT_SEED_WEIGHT if source == "seeds" else 1.0))
    y = np.concatenate(ys)
    b = np.concatenate(boost)
    totals = np.bincount(y, weights=b, minlength=len(classes))
    w = b * (len(y) / (np.count_nonzero(totals) * np.maximum(totals, 1e-9)))[y]
    return np.vstack(xs), np.eye(len(classes))[y], w


def main() -> None:
    """Train every head and write heads.npz plus a JSON summary beside it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    encoder = Encoder.load(args.out, threads=args.threads)
    sentiment, sentiment_counts = train_sentiment(encoder)
    print("sentiment head trained", sentiment_counts, flush=True)
    emotions, thresholds, emotion_counts = train_emotions(encoder)
    print("emotion head trained", dict(zip(EMOTIONS, thresholds.round(3).tolist(), strict=True)), flush=True)
    intent, intent_counts = train_intent(encoder)
    print("intent head trained", intent_counts, flush=True)
    prior = np.log(np.array([SENTIMENT_PRIOR[s] for s in SENTIMENTS], dtype=np.float32))
    extras = {
        "version": np.array(HEADS_VERSION),
        "sentiment_log_prior": prior,
        "emotion_thresholds": thresholds,
    }
    save_heads(args.out / HEADS_FILE, {"sentiment": sentiment, "emotions": emotions, "intent": intent}, extras)
    summary = {
        "version": HEADS_VERSION,
        "encoder": encoder.version,
        "features": "384-d sentence embedding + lexical cue features (cues.py)",
        "sentiment": {"classes": list(SENTIMENTS), "training_rows": sentiment_counts, "prior": SENTIMENT_PRIOR},
        "emotions": {
            "classes": list(EMOTIONS),
            "training_rows": emotion_counts,
            "thresholds": dict(zip(EMOTIONS, thresholds.round(3).tolist(), strict=True)),
        },
        "intent": {
            "classes": list(INTENTS),
            "training_rows": intent_counts,
            "seed_labels": dict(Counter(i for i, _, _ in SEEDS)),
        },
    }
    (args.out / "heads.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("wrote", args.out / HEADS_FILE)


if __name__ == "__main__":
    main()

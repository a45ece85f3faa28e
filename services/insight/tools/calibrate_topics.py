"""Choose the topic confidence constants (slope, centre, keyword bonus) on shippable data; prints the best.

Bitext and Banking77 utterances are mapped onto the default taxonomy by their category names; every text has one
gold topic, and the search maximises micro-F1 of the topics returned (at most three per text, above 0.5).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora as C
from embed_cache import CachedEncoder

from cxm_insight.nlp import topics as T
from cxm_insight.nlp.encoder import Encoder
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY
from cxm_insight.nlp.text import clean_text

BITEXT_TOPIC = {
    "cancel_order": "cancellation",
    "check_cancellation_fee": "cancellation",
    "check_invoice": "billing",
    "get_invoice": "billing",
    "check_payment_methods": "billing",
    "payment_issue": "billing",
    "check_refund_policy": "refunds",
    "get_refund": "refunds",
    "track_refund": "refunds",
    "delivery_options": "delivery",
    "delivery_period": "delivery",
    "track_order": "delivery",
    "set_up_shipping_address": "delivery",
    "change_shipping_address": "delivery",
    "create_account": "onboarding",
    "registration_problems": "onboarding",
    "recover_password": "login_access",
    "contact_customer_service": "communication",
    "contact_human_agent": "communication",
}
BANKING_TOPIC = {
    "card_arrival": "delivery",
    "card_delivery_estimate": "delivery",
    "lost_or_stolen_card": "privacy_security",
    "compromised_card": "privacy_security",
    "card_payment_not_recognised": "privacy_security",
    "cash_withdrawal_not_recognised": "privacy_security",
    "passcode_forgotten": "login_access",
    "pin_blocked": "login_access",
    "Refund_not_showing_up": "refunds",
    "request_refund": "refunds",
    "extra_charge_on_statement": "billing",
    "transaction_charged_twice": "billing",
    "direct_debit_payment_not_recognised": "billing",
    "exchange_charge": "pricing",
    "transfer_fee_charged": "pricing",
    "top_up_by_card_charge": "pricing",
    "cash_withdrawal_charge": "pricing",
    "card_payment_fee_charged": "pricing",
    "terminate_account": "cancellation",
    "activate_my_card": "onboarding",
    "pending_transfer": "wait_time",
    "transfer_timing": "wait_time",
    "pending_card_payment": "wait_time",
    "card_not_working": "technical_issue",
    "contactless_not_working": "technical_issue",
    "virtual_card_not_working": "technical_issue",
}


def labelled() -> list[tuple[str, str]]:
    """(text, gold topic) pairs from both corpora."""
    rows = [(r.text, BITEXT_TOPIC[r.label]) for r in C.bitext() if r.label in BITEXT_TOPIC]
    rows += [(r.text, BANKING_TOPIC[r.label]) for r in C.banking77() if r.label in BANKING_TOPIC]
    return rows


def micro_f1(confidence: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """Micro-F1 of the picked topics and top-1 accuracy, for one gold topic per row."""
    tp = fp = 0
    top1 = 0
    for row, g in zip(confidence, gold, strict=True):
        picked = T.pick_topics(row)
        tp += int(g in picked)
        fp += len(picked) - int(g in picked)
        top1 += int(bool(picked) and picked[0] == g)
    fn = len(gold) - tp
    return 2 * tp / max(2 * tp + fp + fn, 1), top1 / len(gold)


def main() -> None:
    """Grid-search the constants and print the best few."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    encoder = Encoder.load(threads=args.threads)
    cache = CachedEncoder(encoder)
    rows = labelled()
    texts = [t for t, _ in rows]
    ids = [t.id for t in DEFAULT_TAXONOMY.topics]
    gold = np.array([ids.index(topic) for _, topic in rows])
    vectors = cache.embed(texts, "topic-calibration")
    index = T.build_index(DEFAULT_TAXONOMY, lambda xs: encoder.encode([clean_text(x) for x in xs]))
    cosine = vectors @ index.prototypes.T
    hits = np.vstack([T.keyword_hits(index, clean_text(t)) for t in texts])
    results = []
    for slope, centre, bonus in itertools.product(
        (6.0, 9.0, 12.0, 18.0), np.arange(0.30, 0.56, 0.02), (1.6, 2.4, 3.2, 4.0)
    ):
        confidence = 1.0 / (1.0 + np.exp(-(slope * (cosine - centre) + bonus * hits)))
        f1, top1 = micro_f1(confidence, gold)
        results.append((f1, top1, slope, round(float(centre), 2), bonus))
    results.sort(reverse=True)
    print(f"{len(rows)} texts; best (micro-F1, top-1, slope, centre, keyword bonus):")
    for r in results[:5]:
        print(f"  F1 {r[0]:.3f} top-1 {r[1]:.3f} slope {r[2]} centre {r[3]} bonus {r[4]}")


if __name__ == "__main__":
    main()

"""Theme discovery on real sentence embeddings: an unseen complaint stands out from varied other complaints."""

import random
from collections import Counter

import numpy as np
import pytest

from cxm_insight.domain.themes import discover_themes
from cxm_insight.nlp.encoder import Encoder

PLACES = [
    "the store", "your shop", "the supermarket", "the mall", "your branch", "the outlet", "the downtown store",
    "your new location", "the retail park", "the north street shop",
]  # fmt: skip
WHEN = ["", " on weekends", " after work", " every single time", " on saturdays", " in the evening", " at lunchtime"]
PARKING_SUBJECTS = [
    "the parking", "parking", "the car park", "the parking lot", "finding a parking space", "the parking garage",
    "parking my car", "getting a parking spot",
]  # fmt: skip
PARKING_VERDICTS = [
    "is impossible", "is a nightmare", "is a total joke", "is always full", "takes forever", "is way too expensive",
    "is ridiculous", "is so frustrating", "is never possible", "has gotten worse",
]  # fmt: skip
OPENERS = ["I", "Yesterday I", "Once again I", "Today I", "Every visit I", "Honestly, I", "Last week I", "We"]
PARKING_PROBLEMS = [
    "could not find a parking space at {place}", "had to park a mile away from {place} and walk in the rain",
    "drove around the car park at {place} for twenty minutes", "found no free parking spots near {place}",
    "paid a fortune just to park at {place}", "got stuck in the parking garage queue at {place}",
    "gave up and went home because {place} had nowhere to park", "squeezed into a tiny parking bay at {place}",
    "saw the disabled parking at {place} taken again", "circled the parking lot at {place} three times",
    "left {place} without buying anything because we couldn't park", "waited ages for a parking spot at {place}",
]  # fmt: skip
OTHER_MATTERS = [
    "I was charged twice for the same order", "My invoice shows a fee I never agreed to",
    "You billed my card after I cancelled", "The monthly charge went up without any warning",
    "Still waiting for my refund after three weeks", "The refund was never processed",
    "They refused to refund a broken item", "My money back has still not arrived",
    "The package arrived five days late", "My order was delivered to the wrong address",
    "The courier left the box out in the rain", "Tracking said delivered but nothing came",
    "The app crashes every time I open it", "Your mobile app logs me out constantly",
    "The latest update broke the app completely", "The app freezes on the payment screen",
    "I can't log in to my account", "Password reset emails never arrive",
    "My account got locked for no reason", "The verification codes don't work",
    "The cashier at {place} was incredibly rude to me", "Staff at {place} ignored me when I asked for help",
    "The manager was dismissive and unhelpful", "Employees were chatting instead of serving customers",
    "I waited on hold for over an hour", "Nobody answers the support phone line",
    "The queue at the tills in {place} was enormous", "It took weeks to get a reply to my email",
    "The shirt fell apart after one wash", "The blender broke within a week",
    "The food was cold and tasteless", "Cheap materials and very poor quality",
    "Prices have become far too high", "Everything costs double what it did last year",
    "Your prices are higher than every competitor", "Shipping costs are a rip-off",
    "The website is painfully slow", "Checkout on the website keeps failing",
    "Search on your site never finds anything", "The website shows error messages all the time",
    "The item I wanted is always out of stock at {place}", "The shelves at {place} were empty again",
    "They sold me something that wasn't actually in stock", "My size is never available",
    "The toilets at {place} were filthy", "{place} was dirty and smelled bad",
    "Rubbish everywhere in the aisles", "The changing rooms were disgusting",
    "Cancelling my subscription is impossible", "I was auto-renewed without consent",
    "The subscription terms changed without notice", "They keep charging me after I unsubscribed",
    "The warranty claim was rejected unfairly", "The repair under warranty took two months",
    "Nobody told me my order was cancelled", "Your chatbot is completely useless",
    "The loyalty points disappeared from my account", "The voucher code was not accepted at checkout",
    "The music in {place} is unbearably loud", "The self-checkout machines at {place} never work",
]  # fmt: skip
ENDINGS = [
    "",
    ".",
    "!",
    ". Very disappointed.",
    ". Unacceptable.",
    ", really annoying.",
    ". Fix this.",
    ". Never again.",
]


def parking_complaint(rng: random.Random) -> str:
    place = rng.choice(PLACES)
    if rng.random() < 0.4:
        subject = rng.choice(PARKING_SUBJECTS)
        return f"{subject[0].upper()}{subject[1:]} at {place} {rng.choice(PARKING_VERDICTS)}{rng.choice(WHEN)}."
    problem = rng.choice(PARKING_PROBLEMS).format(place=place)
    return f"{rng.choice(OPENERS)} {problem}{rng.choice(WHEN)}{rng.choice(ENDINGS)}"


def other_complaint(rng: random.Random) -> str:
    text = rng.choice(OTHER_MATTERS).format(place=rng.choice(PLACES))
    return f"{text[0].upper()}{text[1:]}{rng.choice(ENDINGS)}"


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.load()


def test_an_unseen_theme_is_discovered_as_one_pure_cluster(encoder: Encoder) -> None:
    rng = random.Random(17)
    texts = [parking_complaint(rng) for _ in range(200)] + [other_complaint(rng) for _ in range(600)]
    order = list(range(len(texts)))
    rng.shuffle(order)
    texts = [texts[i] for i in order]
    is_parking = np.array([i < 200 for i in order])

    themes = discover_themes(encoder.encode(texts), texts, [f"fb-{i}" for i in range(len(texts))])

    mostly_parking = [t for t in themes if is_parking[t.member_indices].mean() > 0.5]
    assert len(mostly_parking) == 1, [(t.size, t.top_terms[:3]) for t in mostly_parking]
    theme = mostly_parking[0]
    assert is_parking[theme.member_indices].mean() >= 0.8
    assert is_parking[theme.member_indices].sum() >= 0.7 * 200
    assert theme.top_terms[0] in {"parking", "park", "car", "car park"}
    assert all(is_parking[theme.member_indices].sum() > t.size for t in themes if t is not theme), Counter(
        t.top_terms[0] for t in themes
    )

"""Behavioural checks of a trained text classifier (Ribeiro et al., 2020, "Beyond Accuracy: Behavioral Testing of
NLP Models with CheckList"; Made-With-ML's model tests), shared by tests/model/test_model_behaviour.py (a model
trained on a sample in the test session) and bench/quality.py (the full models).

Each check takes `score`, a function from a list of raw texts to a list of {label: probability} (the served
signature's answer), and returns the share of its cases that behave: the tests and the benchmark set the bar.
- invariance: an edit that must not matter (another @mention, URL, number or name) leaves the label alone;
- directional: negation moves probability from the positive class towards the negative one, and intensifying a
  clear sentence does not weaken its class;
- minimum functionality: unambiguous sentences get their class.
"""
from __future__ import annotations

import itertools
from typing import Callable, Dict, List, Sequence, Tuple

Scores = Callable[[Sequence[str]], List[Dict[str, float]]]

# Edits that must not change a label: each template is filled with every value of its slot.
SLOTS = {
    "mention": ["@united", "@sarah_k", "@BBCNews", "@x"],
    "url": ["http://t.co/abc123", "https://example.com/a/b?c=1", "www.news.org"],
    "number": ["2", "45", "1,200", "3.5"],
    "name": ["John", "Maria", "Wei", "Aisha", "Pedro"],
}
INVARIANCE_TEMPLATES = {
    "sentiment": [
        "{mention} thank you so much, the team was wonderful",
        "{mention} worst service ever, i am so angry",
        "{mention} what time does the store open tomorrow",
        "loved this article {url}",
        "this is terrible news {url}",
        "new schedule is out {url}",
        "waited {number} hours and nobody helped, awful",
        "got {number} free tickets today, so happy",
        "the meeting moved to room {number}",
        "{name} is the best friend ever, love you",
        "{name} was rude to me again, hate it",
        "{name} is flying to boston on monday",
    ],
    "emotion": [
        "i feel so happy and thankful today {mention}",
        "i feel so lonely and sad since {name} left",
        "i am furious that {name} lied to me again",
        "i feel scared and nervous about the exam in {number} days",
        "i was shocked and amazed when {name} showed up",
        "i feel so loved and cherished by {name}",
    ],
}

# (sentence, edited sentence, class that must gain, class that must lose)
DIRECTIONAL = {
    "sentiment": [
        ("the food was good", "the food was not good", "negative", "positive"),
        ("i love this phone", "i do not love this phone", "negative", "positive"),
        ("the staff were helpful", "the staff were not helpful at all", "negative", "positive"),
        ("great flight today", "not a great flight today", "negative", "positive"),
        ("this movie is amazing", "this movie is not amazing", "negative", "positive"),
        ("i am happy with the service", "i am not happy with the service", "negative", "positive"),
        ("the update works well", "the update does not work well", "negative", "positive"),
        ("i like the new design", "i do not like the new design", "negative", "positive"),
        ("the crew was nice", "the crew was so so nice, amazing, thank you", "positive", "negative"),
        ("the show was good", "the show was really good, best night ever", "positive", "negative"),
        ("the delay was bad", "the delay was horrible, the worst ever", "negative", "positive"),
        ("the app is slow", "the app is awful and so slow, i hate it", "negative", "positive"),
    ],
    "emotion": [
        ("i feel happy", "i feel so happy and excited and grateful", "joy", "sadness"),
        ("i feel sad", "i feel so sad and miserable and hopeless", "sadness", "joy"),
        ("i feel angry", "i feel so angry and furious and bitter", "anger", "joy"),
        ("i feel afraid", "i feel so afraid and terrified and anxious", "fear", "joy"),
        ("i feel happy today", "i do not feel happy today, i feel miserable", "sadness", "joy"),
    ],
}

MINIMUM = {
    "sentiment": {
        "positive": [
            "i love this so much", "thank you, you are amazing", "best day ever", "this is wonderful news",
            "great job everyone, so proud", "what a beautiful morning", "i am so happy right now",
            "thanks for the quick help, excellent service", "the concert was fantastic", "love you all",
            "such a lovely surprise, thank you", "awesome game tonight", "i really enjoyed the movie",
            "congratulations, well deserved", "this made my day", "so grateful for my friends",
            "the new album is brilliant", "perfect weather for a walk", "you guys are the best",
            "happy birthday, have a great one", "this is the best pizza in town", "great customer service",
            "i am excited for the weekend", "thank you for the kind words",
        ],
        "negative": [
            "i hate this so much", "worst day ever", "this is terrible", "so angry right now",
            "the service was awful", "i am so disappointed", "this is the worst airline",
            "my phone broke again, so annoying", "what a horrible experience", "i feel sick and tired",
            "the food was disgusting", "never buying from them again", "this traffic is killing me",
            "they lost my bag and nobody cares", "so sad and frustrated", "rude staff and a dirty room",
            "the game was a disaster", "i can not stand this anymore", "waited three hours, terrible",
            "this update ruined everything", "ugh my flight got cancelled", "the movie was boring and bad",
            "stupid mistake, hate it", "worst customer service ever",
        ],
        "neutral": [
            "what time does the store open", "the meeting is at 3 pm", "flight 123 departs from gate 4",
            "is the library open on sunday", "the train leaves at noon", "i am going to the office",
            "the report is due on friday", "the bus stop moved to main street", "see the schedule for details",
            "how do i change my seat", "the event starts at 7", "new episode airs tonight at 9",
            "the store is on the second floor", "please send me the address", "i am reading the news",
            "the package will arrive on tuesday", "we are meeting at the cafe", "what is the baggage limit",
            "the price is listed on the website", "updating my phone now", "the game is on channel 5",
            "the road is closed until monday", "i will call you later", "where is the nearest station",
        ],
    },
    "emotion": {
        "joy": ["i feel so happy today", "i feel wonderful and content", "i feel cheerful and glad",
                "i feel so pleased with the result", "i feel great about my new job", "i feel delighted"],
        "sadness": ["i feel so sad and lonely", "i feel miserable and hopeless", "i feel heartbroken",
                    "i feel so depressed today", "i feel gloomy and empty", "i feel unhappy and low"],
        "anger": ["i feel so angry at him", "i feel furious and irritated", "i feel annoyed and mad",
                  "i feel bitter and resentful", "i feel so frustrated and enraged", "i feel hostile"],
        "fear": ["i feel so scared", "i feel terrified and anxious", "i feel nervous and afraid",
                 "i feel frightened of the dark", "i feel so worried and panicky", "i feel uneasy and shaky"],
        "love": ["i feel so loved by you", "i feel affectionate towards her", "i feel romantic tonight",
                 "i feel tender and caring", "i feel passionate about him", "i feel so fond of my family"],
        "surprise": ["i feel so surprised", "i feel amazed by the news", "i feel shocked and stunned",
                     "i feel astonished by the view", "i feel curious and startled", "i feel impressed"],
    },
}


# SST-2's two classes are the sentiment task's without neutral: its cases serve, neutral ones left out.
SAME_CASES = {"sst2": "sentiment"}


def _label(scores: Dict[str, float]) -> str:
    return max(scores, key=scores.get)


def invariance_pairs(task: str) -> List[Tuple[str, str]]:
    """(original, edited) pairs: each template filled with the first value of its slot, then with each other."""
    pairs = []
    for template in INVARIANCE_TEMPLATES[SAME_CASES.get(task, task)]:
        slot = next(name for name in SLOTS if "{" + name + "}" in template)
        first, *others = SLOTS[slot]
        pairs += [(template.format(**{slot: first}), template.format(**{slot: value})) for value in others]
    return pairs


def invariance(score: Scores, task: str) -> Tuple[float, List[Tuple[str, str]]]:
    """Share of pairs with the same label, and the pairs that changed."""
    pairs = invariance_pairs(task)
    answers = score(list(itertools.chain.from_iterable(pairs)))
    changed = [pair for pair, a, b in zip(pairs, answers[::2], answers[1::2]) if _label(a) != _label(b)]
    return 1 - len(changed) / len(pairs), changed


def directional(score: Scores, task: str) -> Tuple[float, List[Tuple[str, str]]]:
    """Share of edits that move the scores the stated way: the gaining class's probability rises against the
    losing class's (their log-odds grows)."""
    import math

    cases = DIRECTIONAL[SAME_CASES.get(task, task)]
    answers = score([text for case in cases for text in case[:2]])
    wrong = []
    for (before_text, after_text, gains, loses), before, after in zip(cases, answers[::2], answers[1::2]):
        odds = lambda s: math.log(max(s[gains], 1e-9)) - math.log(max(s[loses], 1e-9))  # noqa: E731
        if odds(after) <= odds(before):
            wrong.append((before_text, after_text))
    return 1 - len(wrong) / len(cases), wrong


def minimum_functionality(score: Scores, task: str) -> Tuple[Dict[str, float], List[Tuple[str, str, str]]]:
    """Accuracy per class on its unambiguous sentences, and the (text, expected, predicted) misses."""
    per_class, misses = {}, []
    known = set(score(["a"])[0])
    for label, texts in MINIMUM[SAME_CASES.get(task, task)].items():
        if label not in known:
            continue
        predicted = [_label(s) for s in score(texts)]
        per_class[label] = sum(p == label for p in predicted) / len(texts)
        misses += [(t, label, p) for t, p in zip(texts, predicted) if p != label]
    return per_class, misses


def saved_model_scorer(export_dir: str, signature: str = "serving_default") -> Scores:
    """Scores from a pushed SavedModel's raw-text signature, as a client sees them."""
    import tensorflow as tf

    loaded = tf.saved_model.load(export_dir)
    fn = loaded.signatures[signature]

    def score(texts: Sequence[str]) -> List[Dict[str, float]]:
        outputs = fn(text=tf.constant(list(texts)))
        classes = [[c.decode() for c in row] for row in outputs["classes"].numpy()]
        return [dict(zip(names, map(float, row))) for names, row in zip(classes, outputs["scores"].numpy())]

    score.loaded = loaded  # keeps the model alive as long as the scorer
    return score

"""Fit the intent reader's linear model on the TRAIN split of tests/data/intents and write it as
plain data into rules/mail/weights.py (run by hand after changing features or cues; it never
reads heldout/):

    .venv/bin/python bench/train_intents.py            # fit, cross-validate, write the weights
    .venv/bin/python bench/train_intents.py --check    # cross-validate only, write nothing

The model is a multinomial logistic regression over `rules.mail.features.features` (words and
word pairs of the client's own text, cues, context), fitted with AdaGrad and an L2 penalty, in
plain Python: the package ships only the weights. Features seen in fewer than MIN_DOCS training
messages are left out, and weights smaller than PRUNE are dropped, so the table stays small and
every kept weight is one a person can read in `explain`.

Bands need confidences the model has not already seen: the thresholds are chosen on 5-fold
out-of-fold probabilities of the train split (every message scored by a model that never saw
it), as the lowest that keep the issue's safety targets there with a margin, and written beside
the weights.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from types import MappingProxyType  # noqa: E402

from intents_data import Labelled, load  # noqa: E402

from rules.mail.features import facts, features  # noqa: E402
from rules.mail.reading import INTENTS, Model, Reading, read_with  # noqa: E402

OUT = REPO / "rules" / "mail" / "weights.py"
MIN_DOCS = 3
PRUNE = 0.02
L2 = 0.01
EPOCHS = 40
RATE = 0.5
FOLDS = 5
SEED = 7

Vector = dict[str, float]


def vectors(items: list[Labelled]) -> list[Vector]:
    return [
        features(it.message, it.context, facts(it.message, it.context, it.policy)) for it in items
    ]


def fit(xs: list[Vector], ys: list[int]) -> tuple[dict[str, list[float]], list[float]]:
    """Multinomial logistic regression by AdaGrad over shuffled examples, L2 on touched weights."""
    k = len(INTENTS)
    counts = Counter(ys)
    # classes weighted by the square root of their rarity: the small ones are not drowned
    class_weight = [math.sqrt(len(ys) / (k * counts[c])) if counts[c] else 0.0 for c in range(k)]
    weights: dict[str, list[float]] = {}
    squares: dict[str, list[float]] = {}
    bias = [0.0] * k
    bias_sq = [1e-8] * k
    order = list(range(len(xs)))
    rng = random.Random(SEED)
    for _ in range(EPOCHS):
        rng.shuffle(order)
        for i in order:
            x, y = xs[i], ys[i]
            probs = _softmax(_scores(x, weights, bias))
            scale = class_weight[y]
            for c in range(k):
                g = (probs[c] - (1.0 if c == y else 0.0)) * scale
                bias_sq[c] += g * g
                bias[c] -= RATE * g / math.sqrt(bias_sq[c])
            for name, value in x.items():
                w = weights.setdefault(name, [0.0] * k)
                s = squares.setdefault(name, [1e-8] * k)
                for c in range(k):
                    g = (probs[c] - (1.0 if c == y else 0.0)) * value * scale + L2 * w[c]
                    s[c] += g * g
                    w[c] -= RATE * g / math.sqrt(s[c])
    return weights, bias


def _scores(x: Vector, weights: dict[str, list[float]], bias: list[float]) -> list[float]:
    scores = list(bias)
    for name, value in x.items():
        w = weights.get(name)
        if w is not None:
            for c in range(len(scores)):
                scores[c] += w[c] * value
    return scores


def _softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def keep_frequent(xs: list[Vector]) -> list[Vector]:
    docs = Counter(name for x in xs for name in x)
    keep = {
        name for name, n in docs.items() if n >= MIN_DOCS or not name.startswith(("w:", "b:", "s:"))
    }
    return [{n: v for n, v in x.items() if n in keep} for x in xs]


def as_model(
    weights: dict[str, list[float]],
    bias: list[float],
    act: dict[str, float] | None = None,
    draft: dict[str, float] | None = None,
) -> Model:
    return Model(
        classes=INTENTS,
        bias=tuple(bias),
        table=MappingProxyType({n: tuple(w) for n, w in weights.items()}),
        act=MappingProxyType(act or {"booking": 0.0, "objection": 0.0}),
        draft=MappingProxyType(draft or {"booking": 0.0, "objection": 0.0}),
    )


def out_of_fold(items: list[Labelled], xs: list[Vector]) -> list[Reading]:
    """Each message read by a model fitted without it (stratified folds), thresholds at 0."""
    ys = [INTENTS.index(it.label) for it in items]
    folds = [[] for _ in range(FOLDS)]  # type: list[list[int]]
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(ys):
        by_label.setdefault(y, []).append(i)
    for members in by_label.values():
        for j, i in enumerate(members):
            folds[j % FOLDS].append(i)
    readings: list[Reading | None] = [None] * len(xs)
    for fold in folds:
        held = set(fold)
        train_idx = [i for i in range(len(xs)) if i not in held]
        weights, bias = fit(keep_frequent([xs[i] for i in train_idx]), [ys[i] for i in train_idx])
        model = as_model(weights, bias)
        for i in fold:
            it = items[i]
            readings[i] = read_with(model, it.message, it.context, it.policy)
    return [r for r in readings if r is not None]


MARGIN = 0.05


def thresholds(
    items: list[Labelled], readings: list[Reading]
) -> tuple[dict[str, float], dict[str, float]]:
    """The lowest thresholds that keep the safety targets on out-of-fold readings, with MARGIN:
    no other label drafted as a booking (choices, cancellations, reschedules, questions,
    objections), no message needing no answer sent, at most 2% of them drafted."""
    act: dict[str, float] = {}
    draft: dict[str, float] = {}
    for intent in ("booking", "objection"):
        others = [
            r.confidence
            for it, r in zip(items, readings, strict=True)
            if r.intent == intent and it.label not in (intent, "none") and r.band != "leave"
        ]
        nones = sorted(
            (
                r.confidence
                for it, r in zip(items, readings, strict=True)
                if r.intent == intent and it.label == "none" and r.band != "leave"
            ),
            reverse=True,
        )
        n_none = sum(1 for it in items if it.label == "none")
        allowed = int(0.02 * n_none)
        floor = 0.4
        if intent == "booking":
            draft[intent] = max(
                [floor, *(c + MARGIN for c in others)]
                + ([nones[allowed] + MARGIN] if len(nones) > allowed else [])
            )
        else:
            draft[intent] = max(
                [floor] + ([nones[allowed] + MARGIN] if len(nones) > allowed else [])
            )
        sent = [
            r.confidence
            for it, r in zip(items, readings, strict=True)
            if r.intent == intent and it.label == "none" and r.band == "act"
        ]
        act[intent] = max([draft[intent], *(c + MARGIN for c in sent)])
        draft[intent] = min(round(draft[intent], 3), 0.99)
        act[intent] = min(round(act[intent], 3), 0.995)
    return act, draft


def write(
    weights: dict[str, list[float]],
    bias: list[float],
    n_train: int,
    act: dict[str, float],
    draft: dict[str, float],
) -> None:
    rows = []
    for name in sorted(weights):
        w = weights[name]
        if max(abs(v) for v in w) < PRUNE:
            continue
        name_text = name.replace("\t", " ")
        rows.append(name_text + "\t" + " ".join(f"{v:.3f}" for v in w))
    text = "\n".join(rows)
    OUT.write_text(
        '"""The intent reader\'s weights: a multinomial logistic regression over\n'
        "`rules.mail.features`, fitted by bench/train_intents.py on the train split of\n"
        f"tests/data/intents ({n_train} messages). Generated: do not edit by hand.\n\n"
        "TABLE holds one feature a line: its name, a tab, then its weight for each of CLASSES.\n"
        '"""\n\n'
        f"CLASSES = {tuple(INTENTS)!r}\n"
        f"BIAS = ({', '.join(f'{b:.3f}' for b in bias)})\n"
        "# least confidence to answer automatically (act) and to file a draft, per intent,\n"
        "# chosen on out-of-fold readings of the train split\n"
        f"ACT = {act!r}\n"
        f"DRAFT = {draft!r}\n\n"
        f'TABLE = """\\\n{text}\n"""\n',
        encoding="utf-8",
    )
    print(f"wrote {OUT.relative_to(REPO)}: {len(rows)} features")


def band_of(reading: Reading, act: dict[str, float], draft: dict[str, float]) -> str:
    """The band the out-of-fold reading gets under the chosen thresholds."""
    if reading.band == "leave":
        return "leave"
    if reading.confidence >= act.get(reading.intent, 2) and reading.band == "act":
        return "act"
    return "draft" if reading.confidence >= draft.get(reading.intent, 2) else "leave"


def report(
    items: list[Labelled], readings: list[Reading], act: dict[str, float], draft: dict[str, float]
) -> None:
    right = sum(1 for it, r in zip(items, readings, strict=True) if r.intent == it.label)
    print(f"out-of-fold accuracy {right}/{len(items)} = {right / len(items):.1%}")
    confusion: Counter[tuple[str, str]] = Counter()
    bands: Counter[tuple[str, str, str]] = Counter()
    for it, r in zip(items, readings, strict=True):
        confusion[(it.label, r.intent)] += 1
        bands[(it.label, r.intent, band_of(r, act, draft))] += 1
    print("label \\ read  " + " ".join(f"{c[:6]:>6}" for c in INTENTS))
    for label in INTENTS:
        print(f"{label:13} " + " ".join(f"{confusion[(label, c)]:6}" for c in INTENTS))
    print(f"thresholds: act {act}, draft {draft}")
    for label in INTENTS:
        n = sum(1 for it in items if it.label == label)
        line = ", ".join(
            f"{i}/{b} {k}"
            for (lab, i, b), k in sorted(bands.items())
            if lab == label and b != "leave"
        )
        print(f"  {label:13} n={n:3}: {line}")
    if "-v" in sys.argv:
        for it, r in zip(items, readings, strict=True):
            if r.intent != it.label:
                print(f"  {it.name}: read {r.intent} {r.confidence:.2f} {band_of(r, act, draft)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="cross-validate only")
    parser.add_argument("-v", action="store_true", help="list out-of-fold mistakes")
    args = parser.parse_args()
    items = load("train")
    xs = vectors(items)
    readings = out_of_fold(items, xs)
    act, draft = thresholds(items, readings)
    report(items, readings, act, draft)
    if args.check:
        return
    weights, bias = fit(keep_frequent(xs), [INTENTS.index(it.label) for it in items])
    write(weights, bias, len(items), act, draft)


if __name__ == "__main__":
    main()

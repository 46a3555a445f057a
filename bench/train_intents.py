"""Fit the intent reader's linear model on the training mail of tests/data/intents
(`intents_data.TRAINING`) and write it as plain data into rules/mail/weights.py (run by hand
after changing features or cues; it never reads the held-out sets):

    .venv/bin/python bench/train_intents.py            # cross-validate, fit, write the weights
    .venv/bin/python bench/train_intents.py --check    # cross-validate only, write nothing
    .venv/bin/python bench/train_intents.py --check -v # ... and list the out-of-fold mistakes
    .venv/bin/python bench/train_intents.py --sweep    # cross-validate a grid of settings

The model is a multinomial logistic regression over `rules.mail.features.features` (words and
word pairs of the client's own text, cues, context), fitted with AdaGrad and an L2 penalty, in
plain Python: the package ships only the weights. Features seen in fewer than MIN_DOCS training
messages are left out, and weights smaller than PRUNE are dropped, so the table stays small and
every kept weight is one a person can read in `explain`.

Every choice is made on cross-validation by writers (`writer_folds`): each round of writers is
read by a model fitted on the others' mail only, and the issue's targets are counted on those
out-of-fold readings. The settings (L2, epochs, MIN_DOCS) were chosen with --sweep; the band
thresholds are chosen on the out-of-fold confidences (see `thresholds`) and written beside the
weights, with the cross-validated figures they give.

Cancellations, reschedules and questions in train all come with the sender's appointment; the
daemon may not know it (booked by the freelancer under another address). Each of them is also
fitted once more without the appointment (AUGMENT), so that their words, not only the calendar,
say what they are; cross-validation reads the held-out ones both ways.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from intents_data import Labelled, load_training, targets  # noqa: E402

from rules.mail.features import Facts, facts, features  # noqa: E402
from rules.mail.reading import (  # noqa: E402
    CHANGE_ACT,
    CHANGES,
    EXPLICIT,
    INTENTS,
    Model,
    Reading,
    read_with,
)

OUT = REPO / "rules" / "mail" / "weights.py"
PRUNE = 0.02
RATE = 0.5
SEED = 7
AUGMENTED = ("cancellation", "reschedule", "question")  # also fitted without the appointment


@dataclass(frozen=True)
class Settings:
    l2: float = 0.01
    epochs: int = 20
    min_docs: int = 3
    augment: float = 1.0  # sample weight of the copies without the appointment (0: none)
    seed: int = SEED  # the folds' split and the fit's shuffling


SETTINGS = Settings()

Vector = dict[str, float]


# --- the model -----------------------------------------------------------------------------------


def vectors(items: Sequence[Labelled]) -> tuple[list[Facts], list[Vector]]:
    seen = [facts(it.message, it.context, it.policy) for it in items]
    return seen, [features(it.message, it.context, f) for it, f in zip(items, seen, strict=True)]


def without_appointment(it: Labelled) -> Labelled:
    return replace(it, context=replace(it.context, appointments=()))


def augmented(
    items: Sequence[Labelled], weight: float
) -> tuple[list[Vector], list[int], list[float]]:
    """The extra training rows: each cancellation, reschedule and question with an appointment,
    read again as if the appointment were unknown."""
    if weight <= 0:
        return [], [], []
    extra = [
        without_appointment(it) for it in items if it.label in AUGMENTED and it.context.appointments
    ]
    _, xs = vectors(extra)
    return xs, [INTENTS.index(it.label) for it in extra], [weight] * len(extra)


def fit(
    xs: Sequence[Vector], ys: Sequence[int], ws: Sequence[float], settings: Settings
) -> tuple[dict[str, list[float]], list[float]]:
    """Multinomial logistic regression by AdaGrad over shuffled examples, L2 on touched weights."""
    k = len(INTENTS)
    counts: Counter[int] = Counter()
    for y, w in zip(ys, ws, strict=True):
        counts[y] += w
    total = sum(counts.values())
    # classes weighted by the square root of their rarity: the small ones are not drowned
    class_weight = [math.sqrt(total / (k * counts[c])) if counts[c] else 0.0 for c in range(k)]
    weights: dict[str, list[float]] = {}
    squares: dict[str, list[float]] = {}
    bias = [0.0] * k
    bias_sq = [1e-8] * k
    order = list(range(len(xs)))
    rng = random.Random(settings.seed)
    l2 = settings.l2
    for _ in range(settings.epochs):
        rng.shuffle(order)
        for i in order:
            x, y = xs[i], ys[i]
            probs = _softmax(_scores(x, weights, bias))
            scale = class_weight[y] * ws[i]
            errors = [(probs[c] - (1.0 if c == y else 0.0)) * scale for c in range(k)]
            for c in range(k):
                g = errors[c]
                bias_sq[c] += g * g
                bias[c] -= RATE * g / math.sqrt(bias_sq[c])
            for name, value in x.items():
                w = weights.get(name)
                if w is None:
                    w = weights[name] = [0.0] * k
                    squares[name] = [1e-8] * k
                s = squares[name]
                for c in range(k):
                    g = errors[c] * value + l2 * w[c]
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


def keep_frequent(xs: Sequence[Vector], min_docs: int) -> list[Vector]:
    docs = Counter(name for x in xs for name in x)
    keep = {
        name for name, n in docs.items() if n >= min_docs or not name.startswith(("w:", "b:", "s:"))
    }
    return [{n: v for n, v in x.items() if n in keep} for x in xs]


def as_model(
    weights: dict[str, list[float]], bias: list[float], bands: Bands | None = None
) -> Model:
    bands = bands or Bands.zero()
    return Model(
        classes=INTENTS,
        bias=tuple(bias),
        table=MappingProxyType({n: tuple(w) for n, w in weights.items()}),
        act=MappingProxyType(bands.act),
        draft=MappingProxyType(bands.draft),
        sure=MappingProxyType(bands.sure),
    )


# --- cross-validation ----------------------------------------------------------------------------


def writer_of(name: str) -> str:
    """Which round of writers a message comes from: its folder, or in train/ its round ("fr-"
    and "en-" the first, "fr2-" and "en2-" the second)."""
    folder, _, file = name.rpartition("/")
    if folder:
        return folder
    return "train2" if file.split("-")[0].endswith("2") else "train1"


def writer_folds(items: Sequence[Labelled]) -> list[list[int]]:
    """One fold per round of writers: each message is read by a model fitted on the other
    writers' mail only, which is how the reader meets mail it has never seen (a random split
    lets a writer's habits leak from the fit into the fold, and the figures flatter)."""
    folds: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        folds.setdefault(writer_of(it.name), []).append(i)
    return [folds[w] for w in sorted(folds)]


@dataclass(frozen=True)
class Job:
    """What one fold's process needs (read from the module globals the fork shares)."""

    held: frozenset[int]
    settings: Settings


_SHARED: dict[str, object] = {}


def _fold_readings(job: Job) -> list[tuple[int, Reading, Reading | None]]:
    items: list[Labelled] = _SHARED["items"]  # type: ignore[assignment]
    xs: list[Vector] = _SHARED["xs"]  # type: ignore[assignment]
    train = [i for i in range(len(items)) if i not in job.held]
    ex, ey, ew = augmented([items[i] for i in train], job.settings.augment)
    rows = keep_frequent([xs[i] for i in train] + ex, job.settings.min_docs)
    ys = [INTENTS.index(items[i].label) for i in train] + ey
    weights, bias = fit(rows, ys, [1.0] * len(train) + ew, job.settings)
    model = as_model(weights, bias)
    out: list[tuple[int, Reading, Reading | None]] = []
    for i in sorted(job.held):
        it = items[i]
        reading = read_with(model, it.message, it.context, it.policy)
        blind = None
        if it.context.appointments and it.label in ("cancellation", "reschedule"):
            bare = without_appointment(it)
            blind = read_with(model, bare.message, bare.context, bare.policy)
        out.append((i, reading, blind))
    return out


def out_of_fold(
    items: list[Labelled], xs: list[Vector], settings: Settings, workers: int = 0
) -> tuple[list[Reading], dict[int, Reading]]:
    """Each message read by a model fitted without it (thresholds at 0: the band says only
    whether the message may be answered at all, and whether only as a draft). Also the
    cancellations and reschedules read once more without their appointment. The folds are fitted
    in `workers` processes (0: one per core; 1: in this process, as pytest does)."""
    _SHARED["items"] = items
    _SHARED["xs"] = xs
    folds = writer_folds(items)
    jobs = [Job(frozenset(f), settings) for f in folds]
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    readings: dict[int, Reading] = {}
    blind: dict[int, Reading] = {}
    if workers == 1:
        parts = [_fold_readings(job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_fold_readings, jobs))
    for part in parts:
        for i, reading, bare in part:
            readings[i] = reading
            if bare is not None:
                blind[i] = bare
    return [readings[i] for i in range(len(items))], blind


# --- bands ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bands:
    act: dict[str, float]  # least confidence to act
    draft: dict[str, float]  # least confidence to draft
    sure: dict[str, float]  # least confidence to act on an explicit cue

    @staticmethod
    def zero() -> Bands:
        zero = {"booking": 0.0, "objection": 0.0}
        return Bands({**zero, **dict.fromkeys(CHANGES, 0.0)}, dict(zero), dict(zero))

    def band(self, reading: Reading, explicit: bool) -> str:
        """The band an out-of-fold reading (read at thresholds 0) gets under these, exactly as
        `reading._band` gives it."""
        if reading.band == "leave":
            return "leave"
        if reading.intent in CHANGES:  # acted on when sure (issue 13), else left
            return "act" if reading.confidence >= self.act[reading.intent] else "leave"
        act = (self.sure if explicit else self.act)[reading.intent]
        draft = min(self.draft[reading.intent], act)
        if reading.band == "act" and reading.confidence >= act:
            return "act"
        return "draft" if reading.confidence >= draft else "leave"


MARGIN = 0.05  # above the most confident wrong reading
# The least thresholds: a majority to act; a draft from 0.4; an explicit cue lowers the bar to
# act to 0.4 for a booking offer (it takes a time in the calendar) and 0.3 for the answer to an
# objection (the payment options, never a lower price).
# A cancellation or a move is acted on (issue 13) from CHANGE_ACT, 0.6, or higher.
FLOOR = {"act": 0.5, "draft": 0.4, "sure:booking": 0.4, "sure:objection": 0.3, "change": CHANGE_ACT}
# At most these shares drafted: of the messages needing no answer (target 5%), and booking offers
# drafted for questions.
DRAFTED = {"none": 0.02, "question": 0.02}


def thresholds(
    items: Sequence[Labelled], readings: Sequence[Reading], explicit: Sequence[bool]
) -> Bands:
    """The lowest thresholds that keep the issue's safety targets on out-of-fold readings, with
    MARGIN above the most confident wrong reading:

    - act (and sure, for readings with the explicit cue): nothing sent that is not what it was
      read as (no booking offer sent to anything but a booking request, no objection answer sent
      to anything but an objection, nothing sent to mail needing no answer);
    - draft, booking: no booking offer drafted for an objection, a choice, a cancellation or a
      reschedule; drafts of either kind to mail needing no answer at most NONE_DRAFTED of it,
      and booking offers drafted for questions at most DRAFTED of them (a person reads a draft
      before it goes, and a question is one the freelancer answers anyway).
    """
    rows = [
        (it.label, r, x)
        for it, r, x in zip(items, readings, explicit, strict=True)
        if r.intent in EXPLICIT and r.band != "leave"
    ]
    allowed = {
        label: int(share * sum(1 for it in items if it.label == label))
        for label, share in DRAFTED.items()
    }
    act: dict[str, float] = {}
    sure: dict[str, float] = {}
    draft: dict[str, float] = {}
    for intent in EXPLICIT:
        mine = [(label, r, x) for label, r, x in rows if r.intent == intent]
        for table, tier in ((act, False), (sure, True)):
            wrong = [
                r.confidence + MARGIN
                for label, r, x in mine
                if x == tier and label != intent and r.band == "act"
            ]
            floor = FLOOR[f"sure:{intent}" if tier else "act"]
            table[intent] = min(round(max([floor, *wrong]), 3), 0.995)
        others = [r.confidence + MARGIN for label, r, _ in mine if label not in (intent, *DRAFTED)]
        floor = [FLOOR["draft"]] + (others if intent == "booking" else [])
        draft[intent] = min(round(max(floor), 3), 0.99)
    # a cancellation or a move acted on must be one, and of that kind (a move read as a
    # cancellation would cancel what the client wanted kept)
    for intent in sorted(CHANGES):
        wrong = [
            r.confidence + MARGIN
            for it, r in zip(items, readings, strict=True)
            if r.intent == intent and r.band != "leave" and it.label != intent
        ]
        act[intent] = min(round(max([FLOOR["change"], *wrong]), 3), 0.995)
    # the share drafted is counted over both intents together for "none", over booking offers
    # for questions: raise the lower draft threshold until it holds
    while True:
        bands = Bands(act, draft, sure)
        over = []
        for kind, most in allowed.items():
            drafted = sorted(
                (r.confidence, r.intent)
                for label, r, x in rows
                if label == kind
                and bands.band(r, x) == "draft"
                and (kind == "none" or r.intent == "booking")
            )
            if len(drafted) > most:
                over.append(drafted[0])
        if not over:
            return bands
        confidence, intent = min(over)
        raised = round(confidence + MARGIN, 3)  # above it, for either tier: it is left
        for table in (draft, act, sure):
            table[intent] = max(table[intent], raised)


# --- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    accuracy: float
    answered: float  # booking requests answered
    sent: float  # booking requests sent
    objections: float  # objections answered as objections
    recognised: dict[str, float]  # choice, cancellation, reschedule
    blind: dict[str, float]  # cancellation, reschedule recognised without their appointment
    blind_offers: int  # booking offers to them without their appointment
    changes_acted: dict[str, float]  # cancellations, reschedules acted on as what they are
    unsafe: int  # safety targets (zero, or at most 5%) missed, and changes acted on wrongly
    failed: list[str]

    def line(self) -> str:
        rec = " ".join(f"{k[:5]} {v:.1%}" for k, v in self.recognised.items())
        blind = " ".join(f"{k[:5]} {v:.1%}" for k, v in self.blind.items())
        return (
            f"acc {self.accuracy:.1%} | booking answered {self.answered:.1%} sent {self.sent:.1%}"
            f" | objection {self.objections:.1%} | {rec} | no appt: {blind}, "
            f"{self.blind_offers} offers | acted: "
            + " ".join(f"{k[:5]} {v:.1%}" for k, v in self.changes_acted.items())
            + f" | unsafe {self.unsafe}"
        )


def figures(
    items: Sequence[Labelled],
    readings: Sequence[Reading],
    explicit: Sequence[bool],
    bands: Bands,
    blind: dict[int, Reading],
) -> Figures:
    labels = [it.label for it in items]
    banded = [
        (r.intent, bands.band(r, x) if r.intent in EXPLICIT else "leave")
        for r, x in zip(readings, explicit, strict=True)
    ]
    found = targets(labels, banded)
    by = {t.what: t for t in found}

    def share(what: str) -> float:
        t = by[what]
        return t.count / t.total if t.total else 1.0

    unsafe = sum(
        1
        for t in found
        if not t.ok
        and ("booking offer" in t.what or "no answer" in t.what)
    )
    blind_rate: dict[str, float] = {}
    for label in ("cancellation", "reschedule"):
        mine = [r for i, r in blind.items() if labels[i] == label]
        blind_rate[label] = sum(1 for r in mine if r.intent == label) / len(mine) if mine else 1.0
    blind_offers = sum(1 for r in blind.values() if r.intent == "booking" and r.band != "leave")
    acted = [
        (label, r.intent)
        for label, r in zip(labels, readings, strict=True)
        if r.intent in CHANGES and bands.band(r, False) == "act"
    ]
    unsafe += sum(1 for label, intent in acted if label != intent)
    changes_acted = {
        c: sum(1 for label, i in acted if label == i == c) / max(1, labels.count(c))
        for c in sorted(CHANGES)
    }
    right = sum(1 for label, r in zip(labels, readings, strict=True) if r.intent == label)
    return Figures(
        accuracy=right / len(items),
        answered=share("booking requests answered (sent or drafted) >= 95%"),
        sent=share("booking requests sent >= 90%"),
        objections=share("price objections answered as objections >= 90%"),
        recognised={
            label: share(f"{label}: recognised >= 90%")
            for label in ("choice", "cancellation", "reschedule")
        },
        blind=blind_rate,
        blind_offers=blind_offers,
        changes_acted=changes_acted,
        unsafe=unsafe,
        failed=[t.line() for t in found if not t.ok],
    )


def cross_validate(
    items: list[Labelled], seen: list[Facts], xs: list[Vector], settings: Settings, workers: int = 0
) -> tuple[list[Reading], list[bool], dict[int, Reading], Bands, Figures]:
    readings, blind = out_of_fold(items, xs, settings, workers)
    explicit = [EXPLICIT.get(r.intent, "") in f.cues for r, f in zip(readings, seen, strict=True)]
    bands = thresholds(items, readings, explicit)
    return readings, explicit, blind, bands, figures(items, readings, explicit, bands, blind)


def report(
    items: list[Labelled],
    readings: list[Reading],
    explicit: list[bool],
    blind: dict[int, Reading],
    bands: Bands,
    found: Figures,
    verbose: bool,
) -> None:
    print(f"cross-validation by writers on {len(items)} messages, {SETTINGS}")
    confusion: Counter[tuple[str, str]] = Counter()
    banded: Counter[tuple[str, str, str]] = Counter()
    for it, r, x in zip(items, readings, explicit, strict=True):
        confusion[(it.label, r.intent)] += 1
        band = bands.band(r, x) if r.intent in EXPLICIT else "leave"
        banded[(it.label, r.intent, band)] += 1
    print("label \\ read  " + " ".join(f"{c[:6]:>6}" for c in INTENTS))
    for label in INTENTS:
        print(f"{label:13} " + " ".join(f"{confusion[(label, c)]:6}" for c in INTENTS))
    print(f"thresholds: act {bands.act}, draft {bands.draft}, sure {bands.sure}")
    for label in INTENTS:
        n = sum(1 for it in items if it.label == label)
        line = ", ".join(
            f"{i}/{b} {k}"
            for (lab, i, b), k in sorted(banded.items())
            if lab == label and b != "leave"
        )
        print(f"  {label:13} n={n:3}: {line}")
    print(found.line())
    for failed in found.failed:
        print("  " + failed)
    if verbose:
        for it, r, x in zip(items, readings, explicit, strict=True):
            band = bands.band(r, x) if r.intent in EXPLICIT else "leave"
            wrong_band = it.label in EXPLICIT and (r.intent != it.label or band == "leave")
            if r.intent != it.label or wrong_band or (band != "leave" and it.label != r.intent):
                print(f"  {it.name}: {it.label} read {r.intent} {r.confidence:.2f} {band}")
        for i, r in sorted(blind.items()):
            if r.intent != items[i].label:
                print(
                    f"  {items[i].name} without its appointment: read {r.intent} {r.confidence:.2f}"
                )


# --- the weights file ----------------------------------------------------------------------------


def write(
    weights: dict[str, list[float]], bias: list[float], n_train: int, bands: Bands, found: Figures
) -> None:
    rows = []
    for name in sorted(weights):
        w = weights[name]
        if max(abs(v) for v in w) < PRUNE:
            continue
        name_text = name.replace("\t", " ")
        rows.append(name_text + "\t" + " ".join(f"{v:.3f}" for v in w))
    text = "\n".join(rows)
    cv = {
        "accuracy": round(found.accuracy, 4),
        "booking_answered": round(found.answered, 4),
        "booking_sent": round(found.sent, 4),
        "objections_answered": round(found.objections, 4),
        **{f"{k}_recognised": round(v, 4) for k, v in found.recognised.items()},
        **{f"{k}_recognised_without_appointment": round(v, 4) for k, v in found.blind.items()},
        "booking_offers_without_appointment": found.blind_offers,
        **{f"{k}_acted_on": round(v, 4) for k, v in found.changes_acted.items()},
        "unsafe": found.unsafe,
    }
    OUT.write_text(
        '"""The intent reader\'s weights: a multinomial logistic regression over\n'
        "`rules.mail.features`, fitted by bench/train_intents.py on the training mail of\n"
        f"tests/data/intents ({n_train} messages). Generated: do not edit by hand.\n\n"
        "TABLE holds one feature a line: its name, a tab, then its weight for each of CLASSES.\n"
        '"""\n\n'
        f"CLASSES = {tuple(INTENTS)!r}\n"
        f"BIAS = ({', '.join(f'{b:.3f}' for b in bias)})\n"
        "# least confidence to answer automatically (act), to act when the explicit cue is there\n"
        "# (sure) and to file a draft, per intent, chosen on out-of-fold readings of train\n"
        f"ACT = {bands.act!r}\n"
        f"SURE = {bands.sure!r}\n"
        f"DRAFT = {bands.draft!r}\n"
        "# the issue's figures on those out-of-fold readings (by writers), with these thresholds\n"
        "CROSS_VALIDATED = {\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in cv.items()) + "}\n\n"
        f'TABLE = """\\\n{text}\n"""\n',
        encoding="utf-8",
    )
    print(f"wrote {OUT.relative_to(REPO)}: {len(rows)} features")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="cross-validate only")
    parser.add_argument("--sweep", action="store_true", help="cross-validate a grid of settings")
    parser.add_argument("-v", action="store_true", help="list out-of-fold mistakes")
    args = parser.parse_args()
    items = load_training()
    seen, xs = vectors(items)
    if args.sweep:
        for l2 in (0.003, 0.01, 0.03):
            for min_docs in (2, 3, 5):
                settings = replace(SETTINGS, l2=l2, min_docs=min_docs)
                *_, found = cross_validate(items, seen, xs, settings)
                print(f"{settings}: {found.line()}", flush=True)
        return
    readings, explicit, blind, bands, found = cross_validate(items, seen, xs, SETTINGS)
    report(items, readings, explicit, blind, bands, found, args.v)
    if args.check:
        return
    ex, ey, ew = augmented(items, SETTINGS.augment)
    rows = keep_frequent(xs + ex, SETTINGS.min_docs)
    ys = [INTENTS.index(it.label) for it in items] + ey
    weights, bias = fit(rows, ys, [1.0] * len(items) + ew, SETTINGS)
    write(weights, bias, len(items), bands, found)


if __name__ == "__main__":
    main()

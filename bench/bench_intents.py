"""How well frontdesk reads its inbox (issue 10): `rules.mail.read` on the labelled mail of
tests/data/intents (run by hand, not by pytest):

    .venv/bin/python bench/bench_intents.py                  # the held-out set (heldout4/)
    .venv/bin/python bench/bench_intents.py --split train    # everything the reader was fitted on
    .venv/bin/python bench/bench_intents.py --split round5   # one folder of it

Only this script reads the held-out set, and for it it prints aggregate figures only:
per-intent precision and recall, the confusion table (label by intent read), the band table per
label, the issue's targets (PASS/FAIL) and messages per second on one core (already parsed
messages, quoted-text stripping included). Failures are listed by file name for training mail
only: the held-out set must stay unseen, its misses included.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from intents_data import (  # noqa: E402
    HELD_OUT,
    LABELS,
    TRAINING,
    Labelled,
    load,
    load_training,
    targets,
)

from rules.mail import read  # noqa: E402
from rules.mail.reading import BANDS  # noqa: E402


def bench(split: str, seconds: float) -> bool:
    """Print the figures of one split; whether every target passed."""
    items = load_training() if split == "train" else load(split)
    readings = [read(it.message, it.context, it.policy) for it in items]
    print(f"=== {split}: {len(items)} messages")

    confusion: Counter[tuple[str, str]] = Counter(
        (it.label, r.intent) for it, r in zip(items, readings, strict=True)
    )
    print("\nper intent          precision   recall")
    for label in LABELS:
        true = sum(confusion[(label, c)] for c in LABELS)
        said = sum(confusion[(c, label)] for c in LABELS)
        hit = confusion[(label, label)]
        precision = f"{hit / said:.1%}" if said else "-"
        recall = f"{hit / true:.1%}" if true else "-"
        print(
            f"  {label:14} {precision:>10} {recall:>8}   ({hit}/{said} read, {hit}/{true} labelled)"
        )
    right = sum(confusion[(c, c)] for c in LABELS)
    print(f"  accuracy {right}/{len(items)} = {right / len(items):.1%}")

    print("\nconfusion (rows: label, columns: intent read)")
    print("  " + " " * 13 + "".join(f"{c[:7]:>8}" for c in LABELS))
    for label in LABELS:
        print(f"  {label:13}" + "".join(f"{confusion[(label, c)]:8}" for c in LABELS))

    print("\nbands per label (intent read/band: count; leave not split)")
    bands: Counter[tuple[str, str, str]] = Counter(
        (it.label, r.intent if r.band != "leave" else "", r.band)
        for it, r in zip(items, readings, strict=True)
    )
    for label in LABELS:
        cells = [
            f"{intent}/{band} {n}" if band != "leave" else f"leave {n}"
            for (lab, intent, band), n in sorted(
                bands.items(), key=lambda kv: BANDS.index(kv[0][2])
            )
            if lab == label
        ]
        print(f"  {label:13} " + ", ".join(cells))

    print("\ntargets")
    found = targets([it.label for it in items], [(r.intent, r.band) for r in readings])
    for target in found:
        print("  " + target.line())

    print(
        f"\nspeed: {speed(items, seconds):.0f} messages/s on one core (target: 200), "
        "quoted text stripped each time"
    )

    if split not in HELD_OUT:
        print("\nfailures (file: label -> intent read, band)")
        for it, r in zip(items, readings, strict=True):
            if r.intent != it.label:
                print(f"  {it.name}: {it.label} -> {r.intent} {r.band} ({r.confidence:.2f})")
    print()
    return all(t.ok for t in found)


def speed(items: list[Labelled], seconds: float) -> float:
    start = time.perf_counter()
    done = 0
    while time.perf_counter() - start < seconds:
        for it in items:
            read(it.message, it.context, it.policy)
        done += len(items)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--split",
        default="heldout",
        choices=("heldout", *TRAINING, *HELD_OUT),
        help="heldout: the held-out set (the default); train: every folder the reader is "
        "fitted on; or one folder",
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent measuring speed")
    args = parser.parse_args()
    splits = HELD_OUT if args.split == "heldout" else (args.split,)
    results = [bench(split, args.seconds) for split in splits]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

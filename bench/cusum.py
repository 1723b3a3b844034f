"""How the therapist CUSUM's settings behave (docs/metrics/therapist-cusum.md#choosing-the-odds-ratio-and-the-threshold).

    python bench/cusum.py                              # the defaults (odds ratio 2, threshold 6)
    python bench/cusum.py --odds-ratio 1.5 --threshold 4 --runs 4000

Simulated therapists, each episode a dropout with a known chance p, run through the CUSUM's
recursion S = max(0, S + weight) (tests/test_cusum.py checks that the report computes exactly
this recursion). For each p it prints:

- how often a therapist with no excess signals by chance within 500 and within 1,000 episodes;
- how many episodes it takes to signal once the odds of dropout really are 2 and 3 times as high
  (the median and the 90th percentile, counted from the first episode with the excess; a run that
  has not signalled after 1,000 episodes counts as 1,000).

It is a design calculation, not a timing: the numbers depend only on the settings and the seed.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.config import Settings  # noqa: E402

LONGEST = 1_000
RATES = (0.1, 0.2, 0.35)


def first_signal(rng: random.Random, p: float, true_odds_ratio: float, odds_ratio: float,
                 threshold: float) -> int | None:
    """The episode (1, 2, …) at which the CUSUM first reaches the threshold, or None when it has not
    by episode LONGEST."""
    odds = p / (1 - p) * true_odds_ratio
    chance = odds / (1 + odds)
    up = math.log(odds_ratio) - math.log(1 - p + odds_ratio * p)
    down = -math.log(1 - p + odds_ratio * p)
    score = 0.0
    for episode in range(1, LONGEST + 1):
        score = max(0.0, score + (up if rng.random() < chance else down))
        if score >= threshold:
            return episode
    return None


def main() -> None:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--odds-ratio", type=float, default=defaults.cusum_odds_ratio)
    parser.add_argument("--threshold", type=float, default=defaults.cusum_threshold)
    parser.add_argument("--runs", type=int, default=8_000, help="simulated therapists per line")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"odds ratio {args.odds_ratio:g}, threshold {args.threshold:g}, {args.runs:,} therapists a line, "
          f"seed {args.seed}")
    print("| dropout rate p | no excess: signals within 500 | within 1,000 | odds ×2: episodes to signal, "
          "median (90th percentile) | odds ×3 |")
    print("| --- | --- | --- | --- | --- |")
    for p in RATES:
        calm = [first_signal(rng, p, 1.0, args.odds_ratio, args.threshold) for _ in range(args.runs)]
        within = [sum(1 for k in calm if k is not None and k <= n) / args.runs for n in (500, LONGEST)]
        delays = {}
        for rise in (2.0, 3.0):
            runs = sorted(first_signal(rng, p, rise, args.odds_ratio, args.threshold) or LONGEST
                          for _ in range(args.runs))
            delays[rise] = f"{statistics.median(runs):.0f} ({runs[int(0.9 * len(runs))]})"
        print(f"| {p:g} | {within[0]:.1%} | {within[1]:.1%} | {delays[2.0]} | {delays[3.0]} |")


if __name__ == "__main__":
    main()

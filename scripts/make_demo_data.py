"""Regenerate the demo competition's data from scikit-learn's bundled digits.

Writes data/train.csv (features + label), data/test.csv (features only) and
examples/truth.csv (the hidden labels of the test rows, with a public/private split).
Deterministic: the same files on every machine. Run: python scripts/make_demo_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    digits = load_digits()
    rng = np.random.default_rng(20261128)
    order = rng.permutation(len(digits.target))
    features = pd.DataFrame(digits.data.astype(int), columns=[f"px{i}" for i in range(64)])
    ids = rng.choice(np.arange(10_000, 100_000), size=len(order), replace=False)
    features.insert(0, "id", ids)
    train_rows, test_rows = order[:1200], order[1200:]

    train = features.iloc[train_rows].assign(label=digits.target[train_rows])
    test = features.iloc[test_rows]
    split = np.where(rng.random(len(test_rows)) < 0.5, "public", "private")
    truth = pd.DataFrame({"id": test["id"].to_numpy(), "label": digits.target[test_rows], "split": split})

    train.sort_values("id").to_csv(ROOT / "data" / "train.csv", index=False)
    test.sort_values("id").to_csv(ROOT / "data" / "test.csv", index=False)
    truth.sort_values("id").to_csv(ROOT / "examples" / "truth.csv", index=False)


if __name__ == "__main__":
    main()

"""A placeholder training step: logistic regression on a Parquet table of numeric features.

It runs only after `prov check` passed and `prov verify` matched the data to the
attested version (see dvc.yaml), so it does no checking of its own.
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--label-column", default="label")
    args = ap.parse_args()
    params = yaml.safe_load(Path("params.yaml").read_text())["train"]

    table = pq.read_table(args.data)
    features = [c for c in table.column_names if c != args.label_column]
    X = table.select(features).to_pandas().to_numpy(dtype="float64")
    y = table.column(args.label_column).to_pylist()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=params["seed"], stratify=y)
    model = LogisticRegression(C=params["C"], max_iter=2000).fit(X_train, y_train)

    Path(args.model).parent.mkdir(parents=True, exist_ok=True)
    with open(args.model, "wb") as f:
        pickle.dump({"version": args.version, "features": features, "model": model}, f)
    metrics = {"version": args.version, "records": table.num_rows, "accuracy": round(model.score(X_test, y_test), 4)}
    Path(args.metrics).write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"trained on {args.version}: {metrics['records']} records, held-out accuracy {metrics['accuracy']}")


if __name__ == "__main__":
    main()

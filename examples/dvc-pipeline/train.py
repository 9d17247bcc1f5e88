"""A placeholder training step: logistic regression on a prov version of numeric features.

It reads the data only through ``provenance.load``: the version's signature is checked
under the pinned key, the release attestation ``prov check --attest`` wrote is checked
for this version, and every record is hashed and found in the signed manifest as it is
read, before the model sees any of it. The bytes it trains on are the bytes it checked,
so a data file swapped after the check stage (or while this script runs) is refused,
not trained on. The label column and how the data reads come from the signed version
(as ``prov commit`` read it), not from this script.

Exits with prov's codes, printing one line as ``prov verify`` does: 1 (the data or the
attestation does not check out), 2 (bad input, e.g. no such version), 3 (could not check).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import provenance as prov
from provenance.errors import ProvError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", required=True, help="the prov version to train on (params.yaml prov.candidate)")
    ap.add_argument("--attestation", required=True, help="the release attestation `prov check --attest` wrote")
    ap.add_argument("--signer", required=True, help="the public key the job pins (params.yaml prov.signer)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--metrics", required=True)
    args = ap.parse_args()
    params = yaml.safe_load(Path("params.yaml").read_text())["train"]

    try:
        data = prov.load(args.version, pins=args.signer, attestation=args.attestation)
        X, y = data.arrays()  # read once, every record verified; y indexes data.classes
    except ProvError as e:  # VerificationError exits 1, InputError 2: prov's own exit codes
        print(f"Error: {e}", file=sys.stderr)
        return e.exit_code

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=params["seed"], stratify=y)
    model = LogisticRegression(C=params["C"], max_iter=2000).fit(X_train, y_train)

    Path(args.model).parent.mkdir(parents=True, exist_ok=True)
    with open(args.model, "wb") as f:
        pickle.dump({"version": args.version, "features": data.columns, "classes": data.classes, "model": model}, f)
    metrics = {
        "version": args.version,
        "records": len(X),
        "label_column": data.label_column,
        "accuracy": round(model.score(X_test, y_test), 4),
    }
    Path(args.metrics).write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"trained on {args.version}: {metrics['records']} records, held-out accuracy {metrics['accuracy']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

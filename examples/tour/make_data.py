"""Write the README tour's data into a folder: real digits from three sources, one of them poisoned.

    python examples/tour/make_data.py tour

- ``batch.parquet``: 400 digits a vendor delivers (and signs, in the tour);
- ``crowd.parquet``: 300 digits a crowd labelled (unsigned);
- ``train.parquet``: both, the training set of version v3;
- ``scraped.parquet``: 60 records from a scraper with planted attacks (label flips, a
  backdoor patch, outliers, a near-duplicate flood: prov's demo catalogue);
- ``train-new.parquet``: v3's records plus the scrape, the release candidate v4.

scikit-learn's handwritten digits (the ``demo`` extra); the same files on every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provenance.demo.data import digits, digits_table, pixels
from provenance.demo.gate_steps import poisoned_batch


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = digits(shuffle_seed=0)
    vendor, crowd, pool = rows.slice(0, 400), rows.slice(400, 300), rows.slice(700)
    train = pa.concat_tables([vendor, crowd])
    base = digits_table(pixels(train), train.column("label").to_pylist(), "vendor")
    scraped, _ = poisoned_batch(base, pool, np.random.default_rng(1))
    scraped = scraped.drop(["source"])
    for name, table in {
        "batch": vendor,
        "crowd": crowd,
        "train": train,
        "scraped": scraped,
        "train-new": pa.concat_tables([train, scraped]),
    }.items():
        pq.write_table(table, folder / f"{name}.parquet")
    print(f"wrote batch, crowd, train, scraped and train-new .parquet in {folder}/")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tour"))

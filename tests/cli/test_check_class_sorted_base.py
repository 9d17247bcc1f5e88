"""Newcomer review 30, finding 1: a balanced two-class base listed class by class never passed ``prov check``.

An image folder lists ``cats/`` then ``dogs/``, and a table sorted by class does the same. Spectral whitened each
class by one half of the base's file order, and such a listing puts each class wholly in one half: every check
exited 3 ("the base is too small for spectral ... commit a larger base"), however large the base. Each class is now
cut into its own file-order halves when the base's halves leave it too few records; a clean delta passes, and
planted label flips in the same setup still block.
"""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits

from support import commit_signed

BASE, ADDED, FLIPPED = 120, 30, 12


def _check(prov, keypair) -> tuple[int, dict]:
    r = prov("check", "n", "--base", "b", "--signer", keypair.public_path, "--format", "json")
    return r.exit_code, json.loads(r.stdout)


def _digits_tree(prov, keypair, workdir, flips: bool) -> tuple[int, dict]:
    """Commit a folder of ``BASE`` real PNG digits of each of two classes (``zeros/``, ``ones/``), add ``ADDED`` more
    of each (``FLIPPED`` of the added zeros filed under ``ones/`` when ``flips``), commit again and check."""
    X, y = load_digits(n_class=2, return_X_y=True)
    names = ("zeros", "ones")

    def write(lo: int, hi: int, flip: int = 0) -> None:
        for c, name in enumerate(names):
            rows = np.flatnonzero(y == c)[lo:hi]
            for k, i in enumerate(rows):
                folder = names[1] if (c == 0 and k < flip) else name
                path = workdir / "digits" / folder / f"{name}_{i:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray((X[i].reshape(8, 8) * (255 / 16)).round().astype(np.uint8)).save(path)

    write(0, BASE)
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "b", "digits")
    write(BASE, BASE + ADDED, FLIPPED if flips else 0)
    commit_signed(prov, keypair, "n", "digits", "--parent", "b")
    return _check(prov, keypair)


def _sorted_table(prov, keypair, flips: bool) -> tuple[int, dict]:
    """Commit 150 breast_cancer rows of each class sorted by class, then the same plus 30 more of each, sorted too
    (``FLIPPED`` of the added benign ones labelled malignant when ``flips``), and check."""
    X, y = load_breast_cancer(return_X_y=True)
    rows = [np.flatnonzero(y == c) for c in (0, 1)]

    def table(count: int, flip: int = 0) -> pa.Table:
        picked = np.concatenate([r[:count] for r in rows])
        labels = np.where(y[picked] == 0, "malignant", "benign").astype(object)
        new_benign = np.flatnonzero(y[picked] == 1)[150 : 150 + flip]
        labels[new_benign] = "malignant"
        order = np.argsort(labels, kind="stable")  # listed class by class
        columns = {f"f{j:02d}": pa.array(X[picked, j][order]) for j in range(X.shape[1])}
        return pa.table({**columns, "label": pa.array(labels[order].tolist())})

    assert prov("init").exit_code == 0
    pq.write_table(table(150), "b.parquet")
    commit_signed(prov, keypair, "b", "b.parquet")
    pq.write_table(table(180, FLIPPED if flips else 0), "n.parquet")
    commit_signed(prov, keypair, "n", "n.parquet", "--parent", "b")
    return _check(prov, keypair)


def _spectral(report: dict) -> dict:
    return next(rule for rule in report["rules"] if rule["rule"] == "detectors.spectral")


def test_a_clean_delta_to_a_two_class_image_folder_passes(prov, workdir, keypair):
    code, report = _digits_tree(prov, keypair, workdir, flips=False)
    assert code == 0, report["rules"]
    assert _spectral(report)["status"] == "pass"


def test_label_flips_in_a_two_class_image_folder_still_block(prov, workdir, keypair):
    code, report = _digits_tree(prov, keypair, workdir, flips=True)
    assert code == 1, report["rules"]
    assert report["decision"] == "blocked"
    assert _spectral(report)["status"] != "error"


def test_a_clean_delta_to_a_table_sorted_by_class_passes(prov, workdir, keypair):
    code, report = _sorted_table(prov, keypair, flips=False)
    assert code == 0, report["rules"]
    assert _spectral(report)["status"] == "pass"


def test_label_flips_in_a_table_sorted_by_class_still_block(prov, workdir, keypair):
    code, report = _sorted_table(prov, keypair, flips=True)
    assert code == 1, report["rules"]
    assert report["decision"] == "blocked"
    assert _spectral(report)["status"] != "error"

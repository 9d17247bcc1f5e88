"""The bound every standardised feature value is held within (``Z_LIMIT``) and :func:`bounded`, which holds it.

Kept apart from ``profiles.reference`` so the copy index (``profiles.copy_index``), which ``reference`` reads, holds
its re-framed features the same way without importing it."""

from __future__ import annotations

import numpy as np

# A standardised feature value is held within this many scales of the base's mean. A finite feature can be as large as
# float32 holds (3.4e38), and a column the base holds constant has a small floored scale, so a delivered 1e38 was
# inf once standardised: gradient and knn_label scored NaN, spectral's SVD did not converge, and prov check exited 3
# naming no file (attack review 28c, A28c-2). Held at 1e6 the record still stands a million scales out (flagged by
# every detector that measures distance), and a row's squared norm stays far inside float32 (1e12 per feature:
# 1e17 at 1e5 features); values within the bound keep their bits exactly.
Z_LIMIT = 1e6


def bounded(Z: np.ndarray) -> np.ndarray:
    """Standardised features ``Z`` (any shape, float32 or float64; ``inf`` where the standardising overflowed float32)
    held within ``[-Z_LIMIT, Z_LIMIT]``, in place, and returned; values within the bound are unchanged."""
    return np.clip(Z, -Z_LIMIT, Z_LIMIT, out=Z)

"""BLAS on one thread inside prov's numeric work, the caller's setting restored after."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from provenance.features.blas import single_threaded_blas


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.mark.skipif(not blas_threads(), reason="numpy here links no BLAS threadpoolctl can see")
def test_wrapped_work_runs_blas_on_one_thread_and_restores_the_callers_limit():
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        inside = single_threaded_blas(blas_threads)()
        assert inside and set(inside) == {1}
        assert blas_threads() == before


def test_the_wrapper_keeps_results_and_exceptions():
    product = single_threaded_blas(lambda a, b: a @ b)(np.eye(3), np.arange(9.0).reshape(3, 3))
    assert np.array_equal(product, np.arange(9.0).reshape(3, 3))

    def fails():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        single_threaded_blas(fails)()


def test_the_blas_libraries_are_listed_again_only_after_a_module_was_imported():
    # listing every shared library of the process costs ~2 ms, and a detection run limits BLAS nine
    # times: the controller is kept until a module is imported (which may load another BLAS)
    import importlib
    import sys

    import threadpoolctl

    if not hasattr(threadpoolctl, "get_cached_controller"):
        pytest.skip("this threadpoolctl keeps no controller: each limit lists the libraries again")
    single_threaded_blas(blas_threads)()
    kept = threadpoolctl.get_cached_controller()
    assert single_threaded_blas(blas_threads)() in ([], [1] * len(blas_threads()))
    assert threadpoolctl.get_cached_controller() is kept
    fresh = next(name for name in ("colorsys", "wave", "netrc", "tabnanny", "plistlib") if name not in sys.modules)
    importlib.import_module(fresh)
    single_threaded_blas(blas_threads)()
    assert threadpoolctl.get_cached_controller() is not kept

"""The Arrow memory pool a diff allocates from.

A diff streams both manifests (hundreds of MiB at 10 M records) through Arrow buffers that are
allocated and freed window after window. Arrow's default pool here, mimalloc, hands freed
memory back to the kernel and takes fresh huge pages for the next window, and the kernel zeroes
each one: in a 10 M-record ``prov diff --detect`` that was ~1 s of system CPU time, 17% of the
process's samples in ``clear_page_erms``. jemalloc keeps freed pages for reuse, with the same
peak memory (``bench/results/arrow-pool-ab.md``). Where this pyarrow was built without jemalloc,
the default pool stays.
"""

from __future__ import annotations

import pyarrow as pa


def prefer_jemalloc() -> str:
    """Make jemalloc Arrow's default memory pool for this process, if this pyarrow has it; returns
    the backend now in use. Outputs are unchanged: only where Arrow's buffers live."""
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, pa.ArrowException):  # built without jemalloc
        pass
    return pa.default_memory_pool().backend_name

"""Build settings that pyproject.toml cannot express: the optional compiled extensions.

``provenance._fastsha`` (``provenance/_native/fastsha.c``) is compiled during ``pip install``
where a C compiler and OpenSSL's headers exist. ``optional=True``: where the build fails,
the install goes on without it and prov hashes through hashlib, giving the same bytes
(``python -m provenance.fastsha`` says which path runs). ``provenance._fastknn``
(``provenance/_native/fastknn.c``, no library needed) makes the neighbour searches' block
passes in one; without it they run on numpy, with the same answers (``provenance.fastknn``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "provenance._fastsha",
            sources=["provenance/_native/fastsha.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "provenance._fastknn",
            sources=["provenance/_native/fastknn.c"],
            extra_compile_args=["-O3", "-fno-fast-math"],  # IEEE doubles, as numpy computes them
            optional=True,
        ),
    ]
)

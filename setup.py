"""Build settings that pyproject.toml cannot express: the optional batch SHA-256 extension.

``provenance._fastsha`` (``provenance/_native/fastsha.c``) is compiled during ``pip install``
where a C compiler and OpenSSL's headers exist. ``optional=True``: where the build fails,
the install goes on without it and prov hashes through hashlib, giving the same bytes
(``python -m provenance.fastsha`` says which path runs).
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
        )
    ]
)

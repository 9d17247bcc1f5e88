"""The ``prov`` process loads pandas only for code that asks for it by name."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from provenance.cli._imports import load_pandas_on_request

load_pandas_on_request()
import pyarrow as pa


def probes():  # pyarrow asks for pandas from compiled code on these calls
    pa.array([1, 2])
    pa.table({"a": [1.0]})


probes()
print("pandas" in sys.modules)
print(type(pa.table({"a": [1, 2]}).to_pandas()).__name__)  # a conversion imports it as usual
import pandas  # and so does code that names it

print(pandas.__name__)
"""


def test_pyarrow_probes_do_not_load_pandas_but_code_that_names_it_does():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "DataFrame", "pandas"]

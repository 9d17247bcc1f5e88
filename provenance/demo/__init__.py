"""``prov demo``: a real example end to end, as an ordered list of steps (``run.STEPS``), and the
catalogue of planted attacks (``attacks.py``) that the demo and ``bench/`` share."""

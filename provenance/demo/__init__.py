"""``prov demo``: a real example end to end, as a list of steps, and the catalogue of planted attacks."""

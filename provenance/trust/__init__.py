"""Trust: which keys may sign what, pinned by the verifier (never taken from the store alone)."""

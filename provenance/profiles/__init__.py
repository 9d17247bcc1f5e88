"""Reference profiles: the bounded per-class sample of a trusted version and its statistics."""

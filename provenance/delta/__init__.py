"""Record-level diff of two versions: the streaming merge, its two sides, the report and its signals."""

"""``prov fsck``: check every byte the store holds against what vouches for it."""

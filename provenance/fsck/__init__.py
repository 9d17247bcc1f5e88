"""``prov fsck``: check every object and row of a store against what vouches for it, one module per thing checked.

Start at ``check.py`` (``fsck()``, and the order of the checks); a check's problems are
``problems.Problem`` items of an ``FsckReport``.
"""

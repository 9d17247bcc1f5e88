"""Attack review 22c: replays of what still goes wrong after the fixes for attack review 22a. Each test fails on the
code it attacks and passes once the finding is fixed."""

from __future__ import annotations

import json
from pathlib import Path

from provenance import keys


def test_an_honest_json_lines_store_with_thirteen_timestamps_in_one_struct_verifies(prov, workdir):
    """content_types.names_read_back enumerates every seconds/milliseconds combination of the millisecond time types
    of one content column and refuses more than 12 of them. A JSON Lines source whose records hold one struct with 13
    timestamps (JSON reads them as timestamp[s]) commits, then verify, fsck and diff --detect call its delta object
    bad (exit 1, "holds 13 millisecond time types, more than the 12 prov matches against a signed type"), while the
    merge path scores it. The signed type name is known, so no enumeration (and no limit) is needed."""
    from provenance.store import Store

    Store.init(Path(".")).close()
    keys.generate(Path("alice"))
    meta = [{f"t{j}": f"2020-01-{1 + j:02d} 00:00:{i % 60:02d}" for j in range(13)} for i in range(330)]
    rows = [{"x": i * 0.37 % 5, "meta": meta[i], "label": "ab"[i % 2]} for i in range(330)]
    Path("v1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:300]))
    Path("v2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for tag in ("v1", "v2"):
        r = prov("commit", f"{tag}.jsonl", "--tag", tag, "--key", "alice.key", "--signer", "alice.pub")
        assert r.exit_code == 0, r.output
    r = prov("verify", "v2", "--no-data", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    r = prov("fsck", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    delta = prov("diff", "v1", "v2", "--detect", "--no-save", "--format", "json", "--signer", "alice.pub")
    merged = prov(
        "diff", "v1", "v2", "--detect", "--no-save", "--format", "json", "--signer", "alice.pub",
        env={"PROV_DIFF_MERGE": "1"},
    )  # fmt: skip
    assert merged.exit_code == 0, merged.output
    assert (delta.exit_code, delta.stdout) == (0, merged.stdout), delta.output

import numpy as np

from provenance.detectors import get_detector


def test_planted_label_flips_are_flagged_and_explained(digits_split, flags_and_scores):
    rng = np.random.default_rng(1)
    rows = rng.choice(len(digits_split.Xp), 30, replace=False)
    flipped = (digits_split.yp[rows] + rng.integers(1, 10, size=30)) % 10
    delta = digits_split.delta(digits_split.Xp[rows] + 0.01, flipped)
    result = get_detector("knn_label").run(digits_split.profile, delta, fpr=0.01)
    n_clean = len(digits_split.Xp)
    poison_flags, _ = flags_and_scores(result, n_clean)
    clean_flags, _ = flags_and_scores(result)
    assert poison_flags.mean() >= 0.9
    assert clean_flags[:n_clean].mean() <= 0.03
    explanation = result.findings[n_clean].explanation
    assert "nearest base records" in explanation and "label" in explanation


def test_a_relabel_does_not_vote_for_itself(digits_split, flags_and_scores):
    # Relabel base records: their own copy in the profile carries the old label and
    # must not count as a neighbour, or every relabel would look wrong for the wrong reason.
    rows = np.arange(20)
    old = digits_split.yb[rows]
    wrong = (old + 3) % 10
    delta = digits_split.delta(digits_split.Xb[rows], wrong, kinds=["relabeled"] * 20, old_labels=[str(o) for o in old])
    result = get_detector("knn_label").run(digits_split.profile, delta, fpr=0.01)
    flags, _ = flags_and_scores(result, len(digits_split.Xp))
    assert flags.mean() >= 0.9
    assert "relabeled from" in result.findings[-1].explanation
    own_digest = result.findings[-1].digest[:12]
    assert own_digest not in result.findings[-1].explanation.split("nearest base records:")[1]


def test_a_label_the_base_never_had_is_flagged(digits_split, flags_and_scores):
    delta = digits_split.delta(digits_split.Xp[:2], ["cat", "cat"])
    result = get_detector("knn_label").run(digits_split.profile, delta, fpr=0.01)
    assert result.findings[-1].flagged
    assert "does not occur in the base" in result.findings[-1].explanation


def test_the_vote_tallies_of_explanations_are_each_rows_bincount():
    # explanations read the tallies of every record at once; each must be what a bincount of the
    # record's own votes says (missing voters -2, a label the base never had -1, ties to the lowest)
    from provenance.detectors.knn_label import _tallies

    rng = np.random.default_rng(7)
    neighbour_labels = rng.integers(-2, 4, size=(300, 10))
    neighbour_labels[neighbour_labels == -1] = -2
    neighbour_labels[:5] = -2  # records without a single voter
    labels = rng.integers(-1, 4, size=300)
    votes, own, top, top_count = _tallies(neighbour_labels, labels, 4)
    for i in range(300):
        mine = neighbour_labels[i][neighbour_labels[i] >= 0]
        counts = np.bincount(mine, minlength=4)
        assert (votes[i], top[i], top_count[i]) == (len(mine), int(counts.argmax()), int(counts[counts.argmax()]))
        if labels[i] >= 0:
            assert own[i] == int(counts[labels[i]])

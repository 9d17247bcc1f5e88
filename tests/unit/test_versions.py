"""One rule for version names, wherever a version is made."""

from __future__ import annotations

import pytest

from provenance.commit_checks import validate_tag
from provenance.errors import InputError


@pytest.mark.parametrize("tag", ["v1", "v1.0", "release-2025-01-31", "rc_2", "é", "a" * 128])
def test_ordinary_names_are_tags(tag):
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag", ["", " ", "v 1", "v1\n", "a/b", "a\\b", "-v1", ".", "..", "v\x001", "v\x7f", "a" * 129, "v\u20281"]
)
def test_names_that_would_break_a_file_name_or_a_command_line_are_refused(tag):
    with pytest.raises(InputError, match="a version name is 1-128 characters"):
        validate_tag(tag)


def test_the_default_featuriser_name_is_the_profiles_one():
    # versions names it without importing the profile code (start-up of verify and show)
    from provenance import versions
    from provenance.profiles.featurize import AUTO

    assert versions.AUTO == AUTO

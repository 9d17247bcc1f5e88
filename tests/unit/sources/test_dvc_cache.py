"""Which links count as DVC's own cache (read as the file) and which leave the tree (refused)."""

from __future__ import annotations

import os

from provenance.sources.dvc_cache import cache_folders, is_cache_object

OBJECT = "files/md5/ab/" + "c" * 30


def _repo(tmp_path, config: str = ""):
    (tmp_path / ".dvc").mkdir(parents=True)
    (tmp_path / ".dvc" / "config").write_text(config)
    (tmp_path / "data").mkdir()
    return tmp_path


def test_an_object_of_the_default_cache_qualifies_and_any_other_file_does_not(tmp_path):
    repo = _repo(tmp_path)
    cached = repo / ".dvc" / "cache" / OBJECT
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    (repo / ".dvc" / "cache" / "notes.txt").write_bytes(b"y")
    data = os.path.realpath(repo / "data")
    assert is_cache_object(data, os.path.realpath(cached))
    assert not is_cache_object(data, os.path.realpath(repo / ".dvc" / "cache" / "notes.txt"))
    assert not is_cache_object(data, os.path.realpath(repo / ".dvc" / "config"))


def test_a_cache_dir_set_in_the_config_is_followed_and_only_its_objects_qualify(tmp_path):
    repo = _repo(tmp_path / "repo", "[core]\n    remote = x\n[cache]\n    type = symlink\n    dir = ../../store\n")
    store = tmp_path / "store"
    (store / "ab").mkdir(parents=True)
    (store / "ab" / ("d" * 30)).write_bytes(b"z")
    (tmp_path / "secret").write_bytes(b"s")
    data = os.path.realpath(repo / "data")
    assert cache_folders(data) == (os.path.realpath(store),)
    assert is_cache_object(data, os.path.realpath(store / "ab" / ("d" * 30)))
    assert not is_cache_object(data, os.path.realpath(tmp_path / "secret"))


def test_a_file_named_like_an_object_outside_the_cache_does_not_qualify(tmp_path):
    repo = _repo(tmp_path)
    lookalike = tmp_path / "elsewhere" / OBJECT
    lookalike.parent.mkdir(parents=True)
    lookalike.write_bytes(b"x")
    assert not is_cache_object(os.path.realpath(repo / "data"), os.path.realpath(lookalike))

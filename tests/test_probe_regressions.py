"""Regression tests of what ``benchmarks/probe_inputs.py`` (issue 22's probe of hostile and
malformed inputs) found: each a case of the probe, made small."""

from __future__ import annotations

from pathlib import Path

from conftest import make_image, write_png

from deblur.datasets import expand_inputs


def _tree_with_loops(root: Path) -> Path:
    """``root/a.png``, ``root/x/y/b.png``; ``x`` holds no image of its own, and links back
    to ``root`` and to itself (the probe's ``glob loop`` layout)."""
    write_png(root / "a.png", make_image(8, 8))
    write_png(root / "x" / "y" / "b.png", make_image(8, 8))
    (root / "x" / "up").symlink_to(root, target_is_directory=True)
    (root / "x" / "y" / "up").symlink_to(root, target_is_directory=True)
    (root / "x" / "self").symlink_to(root / "x", target_is_directory=True)
    return root


def test_a_trailing_double_star_passes_over_folders_without_images(tmp_path) -> None:
    """`restore 'd/**'` was refused ('d/x: no images in this folder'): a folder the pattern
    matched, not one the user named."""
    root = _tree_with_loops(tmp_path / "d")
    found = {p.name for p, _ in expand_inputs([str(root / "**")])}
    assert found == {"a.png", "b.png"}


def test_a_named_folder_without_images_is_still_refused(tmp_path) -> None:
    import pytest

    from deblur.errors import DatasetError

    root = _tree_with_loops(tmp_path / "d")
    with pytest.raises(DatasetError, match="no images in this folder"):
        expand_inputs([str(root / "x")])
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no image files match this pattern"):
        expand_inputs([str(tmp_path / "empty" / "**")])

"""Dataset discovery (find_pairs, read_pair_list) and command-line input expansion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deblur.datasets import Pair, expand_inputs, find_pairs, read_pair_list


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix == ".npy":
            np.save(p, np.ones((3, 3), np.float32))
        else:
            p.write_bytes(b"x")  # find_pairs only looks at names


def test_find_pairs_flat_layout(tmp_path):
    touch(tmp_path, "blur/b.png", "blur/a.jpg", "sharp/a.png", "sharp/b.png", "psf/a.npy")
    touch(tmp_path, "blur/notes.txt", "blur/.hidden.png")
    pairs = find_pairs(tmp_path)
    assert [p.key for p in pairs] == ["a.jpg", "b.png"]
    a, b = pairs
    assert a == Pair(
        "a.jpg", tmp_path / "blur/a.jpg", tmp_path / "sharp/a.png", tmp_path / "psf/a.npy"
    )
    assert b.psf is None and b.sharp == tmp_path / "sharp/b.png"


def test_find_pairs_subfolders_inside_blur(tmp_path):
    touch(tmp_path, "blur/x/a.png", "sharp/x/a.png", "blur/y/a.png", "sharp/y/a.png", "psf/y/a.npy")
    pairs = find_pairs(tmp_path)
    assert [p.key for p in pairs] == ["x/a.png", "y/a.png"]
    assert pairs[0].psf is None and pairs[1].psf == tmp_path / "psf/y/a.npy"


def test_find_pairs_gopro_tree(tmp_path):
    for seq in ("GOPR0002_11_00", "GOPR0001_11_00"):
        touch(
            tmp_path,
            f"test/{seq}/blur/000001.png",
            f"test/{seq}/blur/000002.png",
            f"test/{seq}/blur_gamma/000001.png",
            f"test/{seq}/sharp/000001.png",
            f"test/{seq}/sharp/000002.png",
        )
    pairs = find_pairs(tmp_path / "test")
    assert [p.key for p in pairs] == [
        "GOPR0001_11_00/blur/000001.png",
        "GOPR0001_11_00/blur/000002.png",
        "GOPR0002_11_00/blur/000001.png",
        "GOPR0002_11_00/blur/000002.png",
    ]
    assert pairs[0].sharp == tmp_path / "test/GOPR0001_11_00/sharp/000001.png"
    # from one level up the keys just grow a prefix
    assert find_pairs(tmp_path)[0].key == "test/GOPR0001_11_00/blur/000001.png"


def test_missing_partner_names_the_file(tmp_path):
    touch(tmp_path, "blur/a.png", "blur/lonely.png", "sharp/a.png")
    with pytest.raises(ValueError, match="lonely.png"):
        find_pairs(tmp_path)


def test_blur_folder_without_sharp_sibling(tmp_path):
    touch(tmp_path, "seq/blur/a.png")
    with pytest.raises(ValueError, match="sharp"):
        find_pairs(tmp_path)


def test_ambiguous_partner(tmp_path):
    touch(tmp_path, "blur/a.png", "sharp/a.png", "sharp/a.jpg")
    with pytest.raises(ValueError, match="several"):
        find_pairs(tmp_path)


@pytest.mark.parametrize("setup", ["empty", "missing", "no_images"])
def test_no_pairs_is_a_clear_error(tmp_path, setup):
    root = tmp_path / "data"
    if setup == "empty":
        root.mkdir()
    elif setup == "no_images":
        touch(root, "blur/readme.txt", "sharp/readme.txt")
    with pytest.raises(ValueError, match="data"):
        find_pairs(root)


def test_read_pair_list(tmp_path):
    touch(
        tmp_path,
        "scene1/gt/gt_1.png",
        "scene1/blur/blur_1.png",
        "scene2/gt/gt_1.png",
        "scene2/blur/blur_1.png",
    )
    lst = tmp_path / "lists" / "test.txt"
    lst.parent.mkdir()
    lst.write_text(
        "# RealBlur style\n"
        "scene1/gt/gt_1.png scene1/blur/blur_1.png\n\n"
        "scene2/gt/gt_1.png\tscene2/blur/blur_1.png\n"
    )
    pairs = read_pair_list(lst, root=tmp_path)
    assert [p.key for p in pairs] == ["scene1/blur/blur_1.png", "scene2/blur/blur_1.png"]
    assert pairs[0].sharp == tmp_path / "scene1/gt/gt_1.png"
    assert pairs[0].blur == tmp_path / "scene1/blur/blur_1.png"
    assert pairs[0].psf is None
    # default root: the list's own folder
    (tmp_path / "list.txt").write_text("scene1/gt/gt_1.png scene1/blur/blur_1.png\n")
    assert read_pair_list(tmp_path / "list.txt")[0].sharp == tmp_path / "scene1/gt/gt_1.png"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a.png\n", r"list.txt:1: expected"),
        ("# only a comment\n", "empty"),
        ("a.png missing.png\n", r"list.txt:1: no such file.*missing.png"),
        ("a.png b.png\na.png b.png\n", r"list.txt:2: .*twice"),
    ],
)
def test_read_pair_list_errors(tmp_path, text, match):
    touch(tmp_path, "a.png", "b.png")
    (tmp_path / "list.txt").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_pair_list(tmp_path / "list.txt")


def test_expand_inputs(tmp_path, monkeypatch):
    touch(tmp_path, "in/b.png", "in/a.jpg", "in/sub/c.png", "in/notes.txt", "one.tif")
    monkeypatch.chdir(tmp_path)
    got = expand_inputs(["in"], recursive=False)
    assert got == [(Path("in/a.jpg"), Path("in")), (Path("in/b.png"), Path("in"))]
    got = expand_inputs(["in", "one.tif", "in/b.png"], recursive=True)
    assert got == [
        (Path("in/a.jpg"), Path("in")),
        (Path("in/b.png"), Path("in")),
        (Path("in/sub/c.png"), Path("in")),
        (Path("one.tif"), Path(".")),
    ]
    assert expand_inputs(["in/*.png"], False) == [(Path("in/b.png"), Path("in"))]
    assert expand_inputs(["in/**/*.png"], False) == [
        (Path("in/b.png"), Path("in")),
        (Path("in/sub/c.png"), Path("in/sub")),
    ]
    # an explicit file is taken whatever its extension (reading it reports the problem)
    assert expand_inputs(["in/notes.txt"], False) == [(Path("in/notes.txt"), Path("in"))]


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        (["nope.png"], "nope.png: no such file"),
        (["*.jpg"], "no image files match"),
        (["empty"], "no images"),
        ([], "no input"),
    ],
)
def test_expand_inputs_errors(tmp_path, monkeypatch, inputs, match):
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=match):
        expand_inputs(inputs, recursive=False)

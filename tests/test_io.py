"""Tests for deblur.io: reading, writing, validation and array <-> tensor conversion."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deblur.io import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    ImageError,
    LoadedImage,
    OutputExistsError,
    as_bchw,
    load_image,
    read_image,
    save_image,
    write_image,
)

FORMATS = [".png", ".jpg", ".tif", ".bmp", ".webp"]
LOSSY = {".jpg"}
SIXTEEN_BIT = {".png", ".tif"}
MODES = ["gray", "gray_alpha", "rgb", "rgba"]


# --------------------------------------------------------------------------------------------
# Helpers: synthetic images and hand-built files
# --------------------------------------------------------------------------------------------


def _levels(array: np.ndarray, depth: int) -> np.ndarray:
    """Quantize float [0, 1] to the given bit depth and back (what an exact round trip gives)."""
    top = np.float32(65535.0 if depth == 16 else 255.0)
    return np.rint(np.clip(array.astype(np.float32), 0, 1) * top) / top


def _smooth(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    """A smooth float32 (H, W, C) image in [0, 1] (JPEG-friendly), quantized to 16 bits."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phases = np.random.default_rng(seed).random(c).astype(np.float32) * 6
    channels = [0.5 + 0.4 * np.sin(xx / w * 3 + p) * np.cos(yy / h * 2 + p / 2) for p in phases]
    return _levels(np.stack(channels, axis=-1), 16)


def _make(mode: str, h: int = 24, w: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
    """(color (H, W, C), alpha (H, W) or None) for a channel mode."""
    channels = 1 if mode.startswith("gray") else 3
    color = _smooth(h, w, channels)
    alpha = None
    if mode.endswith("alpha") or mode == "rgba":
        alpha = _levels(np.random.default_rng(1).random((h, w)), 16)
        alpha[0, :] = 0.0  # fully transparent row: the colour under it must survive too
        alpha[1, :] = 1.0
    return color, alpha


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bytes(width: int, height: int, idat: bytes = b"", color_type: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _exif_tiff_block(orientation: int) -> bytes:
    """A big-endian EXIF TIFF block whose IFD0 holds only the Orientation tag."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)


def _jpeg_with_orientation(jpeg: bytes, orientation: int) -> bytes:
    payload = b"Exif\x00\x00" + _exif_tiff_block(orientation)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + app1 + jpeg[2:]


def _png_with_orientation(png: bytes, orientation: int) -> bytes:
    return png[:33] + _chunk(b"eXIf", _exif_tiff_block(orientation)) + png[33:]


def _tiff_gray(pixels: np.ndarray, orientation: int) -> bytes:
    """A minimal uncompressed little-endian 8-bit gray TIFF with an Orientation tag."""
    h, w = pixels.shape
    data = pixels.astype(np.uint8).tobytes()
    ifd_at = 8 + len(data)
    entries = [  # (tag, type, count, value); type 3 = SHORT, 4 = LONG
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 8),
        (274, 3, 1, orientation),
        (277, 3, 1, 1),
        (278, 4, 1, h),
        (279, 4, 1, len(data)),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<HI", value, 0)[:4] if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_at) + data + ifd


def _encode(ext: str, array: np.ndarray) -> bytes:
    """Encode with OpenCV directly (lossless WebP keeping colour under transparent pixels)."""
    params = []
    if ext == ".webp":
        params = [cv2.IMWRITE_WEBP_LOSSLESS_MODE, cv2.IMWRITE_WEBP_LOSSLESS_PRESERVE_COLOR]
    ok, buffer = cv2.imencode(ext, array, params)
    assert ok
    return buffer.tobytes()


def _block_image(h: int = 32, w: int = 48) -> np.ndarray:
    """Black uint8 (H, W) image with a white 16x16 block in the top-left corner."""
    image = np.zeros((h, w), np.uint8)
    image[:16, :16] = 255
    return image


def _assert_one_line_naming(exc: pytest.ExceptionInfo[BaseException], path: Path) -> str:
    message = str(exc.value)
    assert "\n" not in message and "\r" not in message
    assert path.name in message
    return message


# --------------------------------------------------------------------------------------------
# Constants and types
# --------------------------------------------------------------------------------------------


def test_constants() -> None:
    assert IMAGE_EXTENSIONS == frozenset(
        {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
    )
    assert MAX_PIXELS == 25_000_000  # a whole restore within ~3 GiB (deblur/io/read.py)
    assert issubclass(ImageError, ValueError)
    assert issubclass(OutputExistsError, ImageError)
    assert issubclass(OutputExistsError, FileExistsError)


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip(tmp_path: Path, ext: str, mode: str, depth: int) -> None:
    color, alpha = _make(mode)
    out = write_image(tmp_path / f"img{ext}", color, alpha=alpha, bit_depth=depth)
    assert out == tmp_path / f"img{ext}"
    loaded = read_image(out)

    stored_depth = depth if ext in SIXTEEN_BIT else 8
    assert isinstance(loaded, LoadedImage)
    assert loaded.bit_depth == stored_depth
    assert loaded.path == out
    assert loaded.color.dtype == np.float32 and loaded.color.flags["C_CONTIGUOUS"]
    assert loaded.color.min() >= 0.0 and loaded.color.max() <= 1.0

    # Expected channels: WebP has no gray mode; gray + alpha is native only in PNG.
    gray_kept = ext not in {".webp"} and not (alpha is not None and ext != ".png" and ext != ".jpg")
    expected_channels = 1 if mode.startswith("gray") and gray_kept else 3
    assert loaded.color.shape == (*color.shape[:2], expected_channels)
    expected = np.broadcast_to(_levels(color, stored_depth), loaded.color.shape)
    if ext in LOSSY:
        assert np.abs(loaded.color - expected).mean() < 0.01
        assert np.abs(loaded.color - expected).max() < 0.08
        assert loaded.alpha is None  # JPEG cannot hold alpha: dropped, no crash
    else:
        np.testing.assert_array_equal(loaded.color, expected)
        if alpha is None:
            assert loaded.alpha is None
        else:
            assert loaded.alpha is not None and loaded.alpha.dtype == np.float32
            np.testing.assert_array_equal(loaded.alpha, _levels(alpha, stored_depth))


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_sixteen_bit_exact_all_levels(tmp_path: Path, ext: str, channels: int) -> None:
    levels = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    raw = np.stack([np.roll(levels, 97 * i) for i in range(channels)], axis=-1)
    path = tmp_path / f"all{ext}"
    path.write_bytes(_encode(ext, raw[:, :, 0] if channels == 1 else raw))
    loaded = read_image(path)
    assert loaded.bit_depth == 16
    bgr = raw[:, :, :3][:, :, ::-1] if channels > 1 else raw
    np.testing.assert_array_equal(np.rint(loaded.color * 65535).astype(np.uint16), bgr)
    if channels == 4:
        np.testing.assert_array_equal(np.rint(loaded.alpha * 65535).astype(np.uint16), raw[..., 3])
    # ... and back out through write_image, bit for bit.
    out = write_image(tmp_path / f"copy{ext}", loaded.color, alpha=loaded.alpha, bit_depth=16)
    assert (
        cv2.imdecode(np.fromfile(out, np.uint8), cv2.IMREAD_UNCHANGED).tobytes()
        == (raw[:, :, 0] if channels == 1 else raw).tobytes()
    )


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp", ".webp"])
def test_eight_bit_exact_all_levels(tmp_path: Path, ext: str) -> None:
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgba = np.stack([levels, levels.T, levels[::-1], levels[:, ::-1]], axis=-1)
    path = tmp_path / f"all{ext}"
    path.write_bytes(_encode(ext, rgba))
    loaded = read_image(path)
    assert loaded.bit_depth == 8
    np.testing.assert_array_equal(np.rint(loaded.color * 255), rgba[:, :, 2::-1])
    np.testing.assert_array_equal(np.rint(loaded.alpha * 255), rgba[:, :, 3])
    out = write_image(tmp_path / f"copy{ext}", loaded.color, alpha=loaded.alpha)
    np.testing.assert_array_equal(
        cv2.imdecode(np.fromfile(out, np.uint8), cv2.IMREAD_UNCHANGED), rgba
    )


@pytest.mark.parametrize("ext", FORMATS)
def test_red_stays_red(tmp_path: Path, ext: str) -> None:
    red = np.zeros((16, 16, 3), np.float32)
    red[..., 0] = 1.0
    out = write_image(tmp_path / f"red{ext}", red)
    on_disk = cv2.imdecode(np.fromfile(out, np.uint8), cv2.IMREAD_COLOR)  # BGR
    assert on_disk[..., 2].min() > 240 and on_disk[..., :2].max() < 15
    color = read_image(out).color
    assert color[..., 0].min() > 0.94 and color[..., 1:].max() < 0.06


def test_jpeg_drops_alpha_and_writes_eight_bits(tmp_path: Path) -> None:
    color, alpha = _make("rgba")
    out = write_image(tmp_path / "a.jpeg", color, alpha=alpha, bit_depth=16)
    loaded = read_image(out)
    assert loaded.alpha is None and loaded.bit_depth == 8 and loaded.color.shape[2] == 3


def test_extension_case_and_unicode_path(tmp_path: Path) -> None:
    path = tmp_path / "фото café 写真.PNG"
    color, _ = _make("rgb")
    write_image(path, color)
    np.testing.assert_array_equal(read_image(path).color, _levels(color, 8))
    assert read_image(str(path)).path == path


def test_content_decides_format_not_extension(tmp_path: Path) -> None:
    path = tmp_path / "actually_png.jpg"
    path.write_bytes(_encode(".png", np.full((4, 5), 7, np.uint8)))
    np.testing.assert_array_equal(read_image(path).color, np.full((4, 5, 1), 7 / 255, np.float32))


def test_jpeg_variants_read(tmp_path: Path) -> None:
    image = (_smooth(32, 40, 3) * 255).astype(np.uint8)
    ok, progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    for name, data in {
        "progressive.jpg": progressive.tobytes(),
        "trailing_bytes.jpg": _encode(".jpg", image) + b"\x00\x00camera junk",
    }.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert np.abs(read_image(path).color - image[:, :, ::-1] / 255).mean() < 0.01


# --------------------------------------------------------------------------------------------
# EXIF orientation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", [6, 8])
def test_jpeg_exif_orientation_rotates(tmp_path: Path, orientation: int) -> None:
    jpeg = _encode(".jpg", _block_image())
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(_jpeg_with_orientation(jpeg, orientation))
    color = read_image(path).color[..., 0]
    assert color.shape == (48, 32)  # width and height swapped
    if orientation == 6:  # rotate 90 degrees clockwise: top-left goes to top-right
        assert color[:16, 16:].mean() > 0.9 and color[:16, :16].mean() < 0.1
    else:  # rotate 90 degrees counter-clockwise: top-left goes to bottom-left
        assert color[32:, :16].mean() > 0.9 and color[:16, :16].mean() < 0.1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_matches_opencv(tmp_path: Path, orientation: int) -> None:
    rng = np.random.default_rng(orientation)
    jpeg = _encode(".jpg", (rng.random((24, 40, 3)) * 255).astype(np.uint8))
    data = _jpeg_with_orientation(jpeg, orientation)
    path = tmp_path / "o.jpg"
    path.write_bytes(data)
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    np.testing.assert_array_equal(np.rint(read_image(path).color * 255), reference)


def test_png_exif_orientation_applies_to_alpha(tmp_path: Path) -> None:
    block = _block_image()
    bgra = np.stack([block, block, block, 255 - block], axis=-1)
    path = tmp_path / "o.png"
    path.write_bytes(_png_with_orientation(_encode(".png", bgra), 6))
    loaded = read_image(path)
    expected = np.rot90(block, k=-1) / 255.0
    np.testing.assert_array_equal(loaded.color[..., 0], expected)
    np.testing.assert_array_equal(loaded.alpha, 1.0 - expected)


_UPRIGHT = {
    3: lambda a: a[::-1, ::-1],
    6: lambda a: np.rot90(a, k=-1),
    8: lambda a: np.rot90(a, k=1),
}


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_tiff_orientation_tag_applied_once(tmp_path: Path, orientation: int) -> None:
    # OpenCV 5 applies the TIFF Orientation tag itself: it must not be applied a second time.
    block = _block_image()
    path = tmp_path / "o.tif"
    path.write_bytes(_tiff_gray(block, orientation))
    expected = _UPRIGHT[orientation](block) / 255.0
    np.testing.assert_array_equal(read_image(path).color[..., 0], expected)


@pytest.mark.parametrize("orientation", [3, 6])
def test_webp_exif_orientation(tmp_path: Path, orientation: int) -> None:
    block = _block_image()
    simple = _encode(".webp", np.stack([block] * 3, axis=-1))  # RIFF, WEBP, one VP8L chunk
    exif = _exif_tiff_block(orientation)
    flags = bytes([0x08, 0, 0, 0])  # EXIF present
    canvas = (48 - 1).to_bytes(3, "little") + (32 - 1).to_bytes(3, "little")
    chunks = b"VP8X" + struct.pack("<I", 10) + flags + canvas + simple[12:]
    chunks += b"EXIF" + struct.pack("<I", len(exif)) + exif + b"\x00" * (len(exif) & 1)
    path = tmp_path / "o.webp"
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks)
    color = read_image(path).color
    np.testing.assert_array_equal(color[..., 0], _UPRIGHT[orientation](block) / 255.0)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Case name -> (path, a word the message must contain)."""
    rgb = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, expect: str) -> None:
        path = tmp_path / name
        path.write_bytes(data)
        cases[name] = (path, expect)

    cases["missing.png"] = (tmp_path / "missing.png", "not found")
    (tmp_path / "folder.png").mkdir()
    cases["folder.png"] = (tmp_path / "folder.png", "folder")
    put("empty.jpg", b"", "empty")
    put("text.png", b"hello, I am not an image\n", "not an image")
    put("unsupported.gif", b"GIF89a" + bytes(20), "unsupported")
    put("no_extension", _encode(".png", rgb), "unsupported")
    for ext in FORMATS:
        data = _encode(ext, rgb)
        put(f"truncated_half{ext}", data[: len(data) // 2], "truncated")
    jpeg = _encode(".jpg", rgb)
    put("truncated_no_eoi.jpg", jpeg[:-2], "truncated")
    png = _encode(".png", rgb)
    put("truncated_no_iend.png", png[:-12], "truncated")
    bad_crc = bytearray(png)
    bad_crc[60] ^= 0xFF  # inside the IDAT chunk
    put("corrupt_crc.png", bytes(bad_crc), "corrupt")
    sof = jpeg.index(b"\xff\xc0")
    bad_precision = bytearray(jpeg)
    bad_precision[sof + 4] = 0  # sample precision 0
    put("corrupt_precision.jpg", bytes(bad_precision), "corrupt")
    tiff = bytearray(_encode(".tif", rgb))
    tiff[4:8] = struct.pack("<I" if tiff[:2] == b"II" else ">I", 10**9)  # IFD beyond the end
    put("corrupt_ifd.tif", bytes(tiff), "corrupt")
    put("junk.webp", b"RIFF\x10\x00\x00\x00WEBPjunkjunk", "corrupt")
    put("zero_size.png", _png_bytes(0, 5, zlib.compress(b"")), "zero-size")
    put("huge_header.png", _png_bytes(100_000, 100_000), "too large")
    huge_jpeg = bytearray(jpeg)
    huge_jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 60_000, 60_000)
    put("huge_header.jpg", bytes(huge_jpeg), "too large")
    return cases


CASES = [
    "missing.png",
    "folder.png",
    "empty.jpg",
    "text.png",
    "unsupported.gif",
    "no_extension",
    *[f"truncated_half{ext}" for ext in FORMATS],
    "truncated_no_eoi.jpg",
    "truncated_no_iend.png",
    "corrupt_crc.png",
    "corrupt_precision.jpg",
    "corrupt_ifd.tif",
    "junk.webp",
    "zero_size.png",
    "huge_header.png",
    "huge_header.jpg",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_one_line_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], case: str
) -> None:
    path, expect = _bad_files(tmp_path)[case]
    log_level = cv2.utils.logging.getLogLevel()
    capfd.readouterr()
    with pytest.raises(ImageError) as exc:
        read_image(path)
    message = _assert_one_line_naming(exc, path)
    assert expect in message.lower()
    with pytest.raises(ImageError):
        load_image(path)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""  # no OpenCV / libpng / libjpeg noise
    assert cv2.utils.logging.getLogLevel() == log_level  # OpenCV log level restored
    os.write(2, b"still here")  # and file descriptor 2 restored
    assert capfd.readouterr().err == "still here"


def test_max_pixels_checked_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    path.write_bytes(_encode(".png", np.zeros((10, 10), np.uint8)))
    assert read_image(path, max_pixels=100).color.shape == (10, 10, 1)
    with pytest.raises(ImageError) as exc:
        read_image(path, max_pixels=99)
    assert "too large" in _assert_one_line_naming(exc, path)


def test_unicode_name_in_error(tmp_path: Path) -> None:
    path = tmp_path / "снимок.png"
    path.write_bytes(b"not a png")
    with pytest.raises(ImageError) as exc:
        read_image(path)
    _assert_one_line_naming(exc, path)


# --------------------------------------------------------------------------------------------
# Writing: atomicity, overwrite, protect
# --------------------------------------------------------------------------------------------


def test_write_leaves_no_temp_files_and_creates_folders(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out.png"
    write_image(out, _make("rgb")[0])
    assert sorted(os.listdir(out.parent)) == ["out.png"]
    write_image(out, _make("rgb")[0], overwrite=True)
    assert sorted(os.listdir(out.parent)) == ["out.png"]


def test_refused_overwrite_keeps_original_bytes(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"original bytes")
    with pytest.raises(OutputExistsError) as exc:
        write_image(out, _make("rgb")[0])
    _assert_one_line_naming(exc, out)
    assert isinstance(exc.value, FileExistsError) and isinstance(exc.value, ImageError)
    assert out.read_bytes() == b"original bytes"
    assert os.listdir(tmp_path) == ["out.png"]
    write_image(out, _make("rgb")[0], overwrite=True)
    assert read_image(out).color.shape == (24, 32, 3)


@pytest.mark.parametrize("spelling", ["same", "dotdot", "str", "single", "hardlink", "symlink"])
def test_protect_wins_over_overwrite(tmp_path: Path, spelling: str) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(_encode(".png", np.zeros((4, 4), np.uint8)))
    original = source.read_bytes()
    target, protect = source, [source]
    if spelling == "dotdot":
        (tmp_path / "sub").mkdir()
        target = tmp_path / "sub" / ".." / "in.png"
    elif spelling == "str":
        protect = [str(source)]
    elif spelling == "single":
        protect = source  # a lone path instead of an iterable must still protect it
    elif spelling in ("hardlink", "symlink"):
        target = tmp_path / "link.png"
        try:
            (os.link if spelling == "hardlink" else os.symlink)(source, target)
        except OSError:
            pytest.skip(f"{spelling}s not supported here")
    with pytest.raises(ImageError) as exc:
        write_image(target, np.ones((4, 4), np.float32), overwrite=True, protect=protect)
    assert "input" in _assert_one_line_naming(exc, target)
    assert source.read_bytes() == original
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_failed_write_removes_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.tif"
    out.write_bytes(b"keep me")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ImageError) as exc:
        write_image(out, _make("rgb")[0], overwrite=True)
    assert "No space left" in _assert_one_line_naming(exc, out)
    assert os.listdir(tmp_path) == ["out.tif"]
    assert out.read_bytes() == b"keep me"


def test_write_rejects_bad_arguments(tmp_path: Path) -> None:
    color = _make("rgb")[0]
    with pytest.raises(ImageError, match="unsupported"):
        write_image(tmp_path / "x.gif", color)
    with pytest.raises(ValueError, match="bit_depth"):
        write_image(tmp_path / "x.png", color, bit_depth=12)
    with pytest.raises(ValueError, match="shape"):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 2), np.float32))
    with pytest.raises(ValueError, match="alpha"):
        write_image(tmp_path / "x.png", color, alpha=np.zeros((3, 3), np.float32))
    with pytest.raises(TypeError):
        write_image(tmp_path / "x.png", np.zeros((4, 4), bool))
    nan = color.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        write_image(tmp_path / "x.png", nan)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match="folder"):
        write_image(tmp_path / "dir.png", color, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["dir.png"]


def test_write_clips_and_rounds(tmp_path: Path) -> None:
    values = np.array([[-0.5, 0.0, 0.4 / 255, 0.6 / 255, 1.0, 7.0]], np.float32)
    out = write_image(tmp_path / "c.png", values)
    got = cv2.imdecode(np.fromfile(out, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(got, [[0, 0, 0, 1, 255, 255]])


# --------------------------------------------------------------------------------------------
# load_image / save_image
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 3), (6, 7, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.uint16])
def test_save_load(tmp_path: Path, shape: tuple[int, ...], dtype: type) -> None:
    rng = np.random.default_rng(3)
    if dtype in (np.uint8, np.uint16):
        image = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
        unit = image.astype(np.float64) / np.iinfo(dtype).max
    else:
        image = rng.random(shape).astype(dtype)
        unit = image
    depth = 16 if dtype == np.uint16 else 8
    out = save_image(tmp_path / "s.png", image, bit_depth=depth)
    loaded = load_image(out)
    assert loaded.shape == shape and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, _levels(unit, depth))
    with pytest.raises(OutputExistsError):
        save_image(out, image)
    save_image(out, image, overwrite=True)


def test_load_gray_alpha_as_rgba(tmp_path: Path) -> None:
    color, alpha = _make("gray_alpha")
    out = write_image(tmp_path / "ga.png", color, alpha=alpha)
    loaded = load_image(out)
    assert loaded.shape == (24, 32, 4)
    for c in range(3):
        np.testing.assert_array_equal(loaded[..., c], _levels(color[..., 0], 8))
    np.testing.assert_array_equal(loaded[..., 3], _levels(alpha, 8))


def test_save_image_rejects_bad_shape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 4\)"):
        save_image(tmp_path / "x.png", np.zeros((4, 4, 5), np.float32))


# --------------------------------------------------------------------------------------------
# as_bchw
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (5, 7, 4)])
def test_as_bchw_numpy_float(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    tensor, back = as_bchw(image)
    channels = shape[2] if len(shape) == 3 else 1
    assert tensor.shape == (1, channels, 5, 7)
    assert tensor.dtype == torch.float32 and tensor.is_contiguous()
    hwc = image if image.ndim == 3 else image[..., None]
    np.testing.assert_array_equal(tensor[0].permute(1, 2, 0).numpy(), hwc)
    restored = back(tensor * 0.5)
    assert isinstance(restored, np.ndarray) and restored.dtype == np.float32
    assert restored.shape == shape and restored.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(restored, image * 0.5)
    tensor.zero_()  # the tensor never aliases the caller's array
    assert image.any()


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 65535)])
def test_as_bchw_integer_arrays(dtype: type, top: int) -> None:
    image = np.array([[0, top], [top // 2, 1]], dtype=dtype)
    tensor, back = as_bchw(image)
    assert tensor.dtype == torch.float32
    np.testing.assert_allclose(tensor[0, 0].numpy(), image / top, rtol=0, atol=1e-7)
    restored = back(tensor)
    assert restored.dtype == np.float32 and restored.shape == (2, 2)


def test_as_bchw_float64_and_noncontiguous() -> None:
    base = np.random.default_rng(1).random((10, 12, 3))
    for view in (base[::2, ::3], base[::-1, :, ::-1], base.transpose(1, 0, 2)):
        tensor, back = as_bchw(view)
        assert tensor.is_contiguous() and tensor.dtype == torch.float32
        np.testing.assert_allclose(tensor[0].permute(1, 2, 0).numpy(), view, rtol=1e-6)
        np.testing.assert_allclose(back(tensor), view, rtol=1e-6)
    readonly = np.zeros((3, 4), np.float32)
    readonly.flags.writeable = False
    assert as_bchw(readonly)[0].shape == (1, 1, 3, 4)


def test_as_bchw_tensors() -> None:
    x = torch.rand(2, 3, 5, 6)
    tensor, back = as_bchw(x)
    assert tensor is x  # float32 contiguous: no copy
    result = back(tensor + 1)
    assert isinstance(result, torch.Tensor) and result.dtype == torch.float32
    assert result.device == x.device and result.shape == (2, 3, 5, 6)

    tensor, back = as_bchw(x.double().permute(0, 1, 3, 2))  # float64, non-contiguous
    assert tensor.dtype == torch.float32 and tensor.is_contiguous()
    assert back(tensor.double()).dtype == torch.float32

    tensor, _ = as_bchw(torch.tensor([[[[0, 255]]]], dtype=torch.uint8))
    assert tensor.tolist() == [[[[0.0, 1.0]]]]
    tensor, _ = as_bchw(torch.tensor([[[[0, 65535]]]], dtype=torch.uint16))
    assert tensor.tolist() == [[[[0.0, 1.0]]]]


def test_as_bchw_back_keeps_gradients() -> None:
    x = torch.rand(1, 1, 3, 3, requires_grad=True)
    tensor, back = as_bchw(x)
    back(tensor * 2).sum().backward()
    assert x.grad is not None


EXPECTED = "expected an image of shape (H, W), (H, W, C) or a tensor (B, C, H, W)"


@pytest.mark.parametrize(
    "image, shape_text",
    [
        (np.zeros((2, 3, 4, 5, 6), np.float32), "(2, 3, 4, 5, 6)"),
        (np.zeros((7,), np.float32), "(7,)"),
        (np.zeros((3, 64, 64), np.float32), "(3, 64, 64)"),  # channels-first by mistake
        (np.zeros((0, 4), np.float32), "(0, 4)"),
        (torch.zeros(3, 4, 5), "(3, 4, 5)"),
        (torch.zeros(1, 2, 3, 4, 5), "(1, 2, 3, 4, 5)"),
    ],
)
def test_as_bchw_wrong_shapes(image: object, shape_text: str) -> None:
    with pytest.raises(ValueError) as exc:
        as_bchw(image)  # type: ignore[arg-type]
    message = str(exc.value)
    assert EXPECTED in message and shape_text in message and "\n" not in message
    if isinstance(image, torch.Tensor):
        assert "4-D" in message


def test_as_bchw_exact_message() -> None:
    with pytest.raises(ValueError) as exc:
        as_bchw(np.zeros((2, 3, 4, 5, 6), np.float32))
    assert str(exc.value) == f"{EXPECTED}, got shape (2, 3, 4, 5, 6)"


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((4, 4), bool),
        np.zeros((4, 4), np.int32),
        torch.zeros(1, 1, 4, 4, dtype=torch.bool),
        torch.zeros(1, 1, 4, 4, dtype=torch.int64),
        [[0.0, 1.0]],
    ],
)
def test_as_bchw_refuses_dtypes(image: object) -> None:
    with pytest.raises(TypeError):
        as_bchw(image)  # type: ignore[arg-type]


def test_as_bchw_back_checks_result_shape() -> None:
    _, back = as_bchw(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(1, 1, H, W\)"):
        back(torch.zeros(1, 3, 4, 4))
    _, back = as_bchw(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        back(torch.zeros(2, 3, 4, 4))
    assert back(torch.zeros(1, 1, 8, 8)).shape == (8, 8, 1)


# --------------------------------------------------------------------------------------------
# The pixel limit (issue #13): a default that bounds a whole restore, and its overrides
# --------------------------------------------------------------------------------------------


def test_issue_13_png_claiming_196_megapixels_is_refused_unread(tmp_path: Path) -> None:
    """A small PNG claiming 14000x14000 RGB passed the old 200 MP limit and took 11 GB."""
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bytes(14000, 14000, zlib.compress(bytes(14001) * 8), color_type=2))
    with pytest.raises(ImageError) as exc:
        read_image(path)
    message = _assert_one_line_naming(exc, path)
    assert "too large" in message and "14000x14000" in message
    assert "max_pixels=N" in message and "DEBLUR_MAX_PIXELS" in message


def test_pixel_limit_override_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deblur.io.read import max_pixels_limit

    path = tmp_path / "small.png"
    path.write_bytes(_encode(".png", np.zeros((10, 10), np.uint8)))
    monkeypatch.delenv("DEBLUR_MAX_PIXELS", raising=False)
    assert max_pixels_limit() == MAX_PIXELS
    monkeypatch.setenv("DEBLUR_MAX_PIXELS", "99")  # read at call time
    assert max_pixels_limit() == 99
    with pytest.raises(ImageError, match="limit is 99 pixels"):
        read_image(path)
    assert read_image(path, max_pixels=100).color.shape == (10, 10, 1)  # the argument wins
    monkeypatch.setenv("DEBLUR_MAX_PIXELS", " 1_000 ")
    assert read_image(path).color.shape == (10, 10, 1)


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5e9"])
def test_bad_pixel_limit_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from deblur.errors import UsageError

    path = tmp_path / "small.png"
    path.write_bytes(_encode(".png", np.zeros((4, 4), np.uint8)))
    monkeypatch.setenv("DEBLUR_MAX_PIXELS", value)
    with pytest.raises(UsageError, match="DEBLUR_MAX_PIXELS"):
        read_image(path)
    monkeypatch.delenv("DEBLUR_MAX_PIXELS")
    for bad in (0, -1, 2.5, True, "100"):
        with pytest.raises(UsageError, match="max_pixels"):
            read_image(path, max_pixels=bad)  # type: ignore[arg-type]


def test_check_pixels_for_arrays() -> None:
    from deblur.io.read import check_pixels

    check_pixels(5000, 5000)  # 25 MP: the default limit itself
    with pytest.raises(ImageError) as exc:
        check_pixels(5001, 5000, name="input array")
    message = str(exc.value)
    assert message.startswith("input array: image too large (5001x5000")
    assert "max_pixels=N or DEBLUR_MAX_PIXELS=N" in message  # the library's parameter
    flags = exc.value.render(lambda name: "--" + name.replace("_", "-"))  # the CLI's wording
    assert "--max-pixels=N or DEBLUR_MAX_PIXELS=N" in flags
    check_pixels(5001, 5000, max_pixels=30_000_000)


def test_file_larger_than_any_allowed_image_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deblur.io.read as read

    assert read._max_file_bytes(MAX_PIXELS) == 64 * 2**20 + 32 * MAX_PIXELS
    monkeypatch.setattr(read, "_max_file_bytes", lambda limit: 1000)  # not 64 MiB on disk
    path = tmp_path / "big.png"
    data = _encode(".png", np.zeros((4, 4), np.uint8))
    path.write_bytes(data + bytes(1000))  # trailing junk past the cap
    with pytest.raises(ImageError, match="file too large"):
        read_image(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    with pytest.raises(ImageError, match="not a regular file"):
        read_image(path)


def test_name_too_long_is_an_image_error(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 300 + ".png")
    with pytest.raises(ImageError):
        read_image(path)

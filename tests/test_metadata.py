"""ICC profiles and EXIF carried from input photos to results, on real tagged JPEG, PNG, TIFF
and WebP files made here with Pillow; colours compared in CIE Lab through littleCMS."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from deblur.batch import restore_files
from deblur.io import read_image
from deblur.io.colour import plan_colour
from deblur.io.metadata import MAX_EXIF_BYTES, read_metadata

WIENER = dict(method="wiener", psf="gaussian:1.0", guard=False)
MAKE, MODEL, LENS, ARTIST = 0x010F, 0x0110, 0xA434, 0x013B
ORIENTATION, EXIF_IFD, GPS_IFD = 0x0112, 0x8769, 0x8825


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def matrix_profile(desc: str, red, green, blue, gamma: float, gray: bool = False) -> bytes:
    """An ICC v2 display profile of three colorants (D50 XYZ) and one gamma curve (or, with
    ``gray``, a gray profile of that curve)."""

    def xyz(v) -> bytes:
        return b"XYZ " + b"\0" * 4 + b"".join(_s15(c) for c in v)

    curv = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    text = desc.encode() + b"\0"
    dsc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 78
    cprt = b"text" + b"\0" * 4 + b"No copyright, test profile\0"
    white = (0.9642, 1.0, 0.8249)
    tags = [(b"desc", dsc), (b"wtpt", xyz(white)), (b"rXYZ", xyz(red)), (b"gXYZ", xyz(green)),
            (b"bXYZ", xyz(blue)), (b"rTRC", curv), (b"gTRC", curv), (b"bTRC", curv),
            (b"cprt", cprt)]  # fmt: skip
    if gray:
        tags = [(b"desc", dsc), (b"wtpt", xyz(white)), (b"kTRC", curv), (b"cprt", cprt)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = struct.pack(">I", offset + len(body)) + b"none" + struct.pack(">I", 0x02100000)
    header += b"mntr" + (b"GRAY" if gray else b"RGB ") + b"XYZ " + b"\0" * 12 + b"acsp"
    header += b"\0" * 28
    header += b"".join(_s15(c) for c in white)
    return header + b"\0" * (128 - len(header)) + table + body


# Adobe RGB (1998): its primaries adapted to D50, gamma 563/256
ADOBE_RGB = matrix_profile(
    "Adobe RGB (1998) compatible", (0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087),
    (0.14919, 0.06322, 0.74457), 563 / 256,
)  # fmt: skip
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[ARTIST] = "Canon", "EOS R5", "A. Photographer"
    exif[ORIENTATION] = orientation
    exif[EXIF_IFD] = {LENS: "RF 50mm F1.2", 0x9003: "2026:05:01 10:20:30"}
    exif[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 0.5)}
    return exif


def photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, saturated uint8 RGB picture (greens beyond sRGB once read as Adobe RGB)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.2 + 0.6 * xx, 0.9 - 0.3 * yy, 0.1 + 0.3 * xx * yy], -1)
    base[: h // 3, : w // 3] = (0.05, 0.95, 0.1)  # a saturated green patch
    noise = rng.normal(0, 0.01, base.shape)
    return np.clip(np.rint((base + noise) * 255), 0, 255).astype(np.uint8)


def blurred_leaves() -> np.ndarray:
    """A blurred, noisy dead-leaves picture (uint8 RGB), as the check's own tests use."""
    import torch

    from deblur.psf import blur, gaussian
    from deblur.synth import dead_leaves

    sharp = dead_leaves(96, np.random.default_rng(0), r_min=3, r_max=30)
    y = blur(torch.from_numpy(sharp).permute(2, 0, 1)[None], gaussian(1.5))[0]
    y = y.permute(1, 2, 0).numpy() + 0.01 * np.random.default_rng(1).standard_normal((96, 96, 3))
    return np.rint(np.clip(y, 0, 1) * 255).astype(np.uint8)


def tagged(path: Path, pixels: np.ndarray, icc: bytes | None, exif: Image.Exif | None) -> Path:
    fmt = {".jpg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".webp": "WEBP"}[path.suffix]
    opts: dict = {"quality": 95} if fmt == "JPEG" else {"lossless": True} if fmt == "WEBP" else {}
    if icc is not None:
        opts["icc_profile"] = icc
    if exif is not None:
        opts["exif"] = exif.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, fmt, **opts)
    return path


def lab(pixels: np.ndarray, icc: bytes | None) -> np.ndarray:
    """CIE Lab (D50) of uint8 RGB pixels in the colours of ``icc`` (sRGB when None)."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc)) if icc else ImageCms.createProfile("sRGB")
    to_lab = ImageCms.buildTransform(source, ImageCms.createProfile("LAB"), "RGB", "LAB")
    raw = np.asarray(ImageCms.applyTransform(Image.fromarray(pixels), to_lab))
    out = raw.astype(np.float64)
    out[..., 0] *= 100 / 255
    out[..., 1:] = raw[..., 1:].view(np.int8)
    return out


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a - b) ** 2).sum(-1))


def restore_one(src: Path, out: Path, **options) -> tuple[Path, tuple[str, ...]]:
    _, outcomes = restore_files([str(src)], output=out, **{**WIENER, **options})
    (outcome,) = list(outcomes)
    assert outcome.error is None, outcome.error
    return outcome.written[0], outcome.notes


def opened(path: Path) -> tuple[np.ndarray, bytes | None, Image.Exif]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")), im.info.get("icc_profile"), im.getexif()


def test_the_test_profile_is_adobe_rgb():
    """The hand-made profile behaves as Adobe RGB: its pure green lies outside sRGB."""
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(ADOBE_RGB)))
    green = np.array([[[0, 255, 0]]], np.uint8)
    assert lab(green, ADOBE_RGB)[0, 0, 1] < lab(green, None)[0, 0, 1] - 10  # greener


def test_adobe_rgb_jpeg_comes_back_with_profile_exif_and_colours(tmp_path):
    pixels = photo()
    src = tagged(tmp_path / "in.jpg", pixels, ADOBE_RGB, camera_exif(orientation=6))
    upright = np.asarray(Image.open(src).convert("RGB")).transpose(1, 0, 2)[:, ::-1]
    out, notes = restore_one(src, tmp_path / "out.jpg")
    got, icc, exif = opened(out)
    assert icc == ADOBE_RGB, "the original profile is written back"
    assert exif[MAKE] == "Canon" and exif[MODEL] == "EOS R5" and exif[ARTIST] == "A. Photographer"
    assert exif.get_ifd(EXIF_IFD)[LENS] == "RF 50mm F1.2"
    assert exif.get_ifd(GPS_IFD)[2] == (52.0, 31.0, 12.5)
    assert exif[ORIENTATION] == 1, "pixels were rotated upright: orientation reset"
    assert got.shape == upright.shape == (64, 48, 3)
    assert notes == ()
    # colours as a colour-managed viewer shows them, in Lab. Deblurring itself moves colours
    # a little (sharpened edges, amplified noise, clipping): the same pixels restored as an
    # untagged sRGB photo are the baseline, and colour management must add little to it.
    d = delta_e(lab(got, icc), lab(upright, ADOBE_RGB))
    shift = delta_e(lab(got, icc).mean((0, 1)), lab(upright, ADOBE_RGB).mean((0, 1)))
    plain = tagged(tmp_path / "plain.jpg", pixels, None, camera_exif(orientation=6))
    plain_up = np.asarray(Image.open(plain).convert("RGB")).transpose(1, 0, 2)[:, ::-1]
    base_out, _ = restore_one(plain, tmp_path / "plain_out.jpg")
    base_got = opened(base_out)[0]
    d0 = delta_e(lab(base_got, None), lab(plain_up, None))
    shift0 = delta_e(lab(base_got, None).mean((0, 1)), lab(plain_up, None).mean((0, 1)))
    assert d.mean() < d0.mean() + 0.6, (d.mean(), d0.mean())  # measured: 2.02 vs 1.78
    assert shift < shift0 + 0.4, (shift, shift0)  # measured: 1.04 vs 0.91
    blocks = delta_e(*(lab(x, p).reshape(8, 8, 6, 8, 3).mean((1, 3))
                       for x, p in ((got, icc), (upright, ADOBE_RGB))))  # fmt: skip
    assert blocks.max() < 2.5, blocks.max()  # 8x8-pixel means; measured: 1.74
    # the same pixels shown as sRGB (the profile dropped) are far off: the measure can fail
    assert delta_e(lab(got, None), lab(upright, ADOBE_RGB)).mean() > 10


def test_colours_beyond_srgb_survive_an_unchanged_region(tmp_path):
    """Strength 0 re-encoded to PNG: the restore is converted through sRGB, yet every pixel,
    the out-of-sRGB green patch included, comes back exactly."""
    pixels = photo()
    src = tagged(tmp_path / "in.png", pixels, ADOBE_RGB, camera_exif())
    out, notes = restore_one(src, tmp_path / "out.tif", strength=0.0)
    got, icc, exif = opened(out)
    assert icc == ADOBE_RGB and exif[MAKE] == "Canon"
    np.testing.assert_array_equal(got, pixels)
    assert delta_e(lab(got, icc), lab(pixels, ADOBE_RGB)).max() == 0
    # the restoration saw sRGB: the green patch was clipped there
    working = plan_colour(read_image(src).color, ADOBE_RGB).working
    assert not np.allclose(working, pixels / 255, atol=2 / 255)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif", ".webp"])
def test_each_format_keeps_profile_and_exif(tmp_path, ext):
    src = tagged(tmp_path / f"in{ext}", photo(seed=1), ADOBE_RGB, camera_exif(orientation=3))
    meta = read_metadata(src.read_bytes(), {".jpg": "jpeg", ".tif": "tiff"}.get(ext, ext[1:]))
    assert meta.icc_profile == ADOBE_RGB and meta.notes == ()
    out, _ = restore_one(src, tmp_path / f"out{ext}")
    got, icc, exif = opened(out)
    assert icc == ADOBE_RGB
    assert exif[MAKE] == "Canon" and exif[ORIENTATION] == 1
    assert exif.get_ifd(EXIF_IFD)[LENS] == "RF 50mm F1.2"
    assert exif.get_ifd(GPS_IFD)[1] == "N"
    if ext == ".tif":  # the TIFF's own pixel-storage tags are not carried as EXIF
        assert read_metadata(out.read_bytes(), "tiff").exif is not None
        carried = Image.Exif()
        carried.load(read_image(src).exif)
        assert 273 not in carried and 256 not in carried  # StripOffsets, ImageWidth


def test_srgb_profile_needs_no_conversion_and_is_kept(tmp_path):
    pixels = photo(seed=2)
    src = tagged(tmp_path / "in.png", pixels, SRGB, None)
    plan = plan_colour(read_image(src).color, SRGB)
    assert not plan.converted
    np.testing.assert_array_equal(plan.working, pixels / np.float32(255))
    out, notes = restore_one(src, tmp_path / "out.png")
    assert opened(out)[1] == SRGB and notes == ()


def test_kept_input_is_copied_unchanged(tmp_path):
    src = tagged(tmp_path / "in.jpg", photo(seed=3), ADOBE_RGB, camera_exif(orientation=6))
    out, notes = restore_one(src, tmp_path / "out.jpg", strength=0.0)
    assert out.read_bytes() == src.read_bytes()
    assert "input copied unchanged" in notes
    # a ringing result (Wiener with a far too small NSR) that the check rejects: copied too
    ring = tagged(tmp_path / "ring.png", blurred_leaves(), ADOBE_RGB, camera_exif())
    out2, notes2 = restore_one(ring, tmp_path / "o.png", guard=True, nsr=1e-7, psf="gaussian:1.5")
    assert any(n.startswith("result doubtful") for n in notes2), notes2
    assert "input copied unchanged" in notes2
    assert out2.read_bytes() == ring.read_bytes()
    # another format cannot be a copy: re-encoded, with the metadata
    out3, notes3 = restore_one(src, tmp_path / "o3.png", strength=0.0)
    assert "input copied unchanged" not in notes3
    got, icc, exif = opened(out3)
    assert icc == ADOBE_RGB and exif[ORIENTATION] == 1 and got.shape[:2] == (64, 48)


def test_formats_without_metadata_get_srgb_pixels_and_a_note(tmp_path):
    pixels = photo(seed=5)
    src = tagged(tmp_path / "in.png", pixels, ADOBE_RGB, camera_exif())
    out, notes = restore_one(src, tmp_path / "out.bmp", strength=0.0)
    assert any("holds no metadata: EXIF not written" in n for n in notes)
    assert any("written in sRGB" in n for n in notes)
    got, icc, _ = opened(out)
    assert icc is None
    # an untagged file is shown as sRGB: the pixels are littleCMS's conversion to sRGB, so
    # the colours agree but for those sRGB cannot hold (this picture is very saturated)
    to_srgb = ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(ADOBE_RGB)), ImageCms.createProfile("sRGB"),
        "RGB", "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
    )  # fmt: skip
    ref = np.asarray(ImageCms.applyTransform(Image.fromarray(pixels), to_srgb))
    assert np.abs(got.astype(int) - ref).max() <= 1
    d = delta_e(lab(got, None), lab(pixels, ADOBE_RGB))
    d_ref = delta_e(lab(ref, None), lab(pixels, ADOBE_RGB))
    assert np.abs(d - d_ref).max() < 1.0
    assert delta_e(lab(got, None), lab(pixels, None)).mean() > 3  # not the unconverted values


def test_hostile_metadata_is_dropped_with_a_note(tmp_path):
    pixels = photo(seed=6)
    # a JPEG whose ICC segment holds garbage
    good = tagged(tmp_path / "good.jpg", pixels, None, None).read_bytes()
    junk = b"ICC_PROFILE\x00\x01\x01" + b"\xde\xad" * 500
    seg = b"\xff\xe2" + struct.pack(">H", len(junk) + 2) + junk
    bad_icc = tmp_path / "bad_icc.jpg"
    bad_icc.write_bytes(good[:2] + seg + good[2:])
    out, notes = restore_one(bad_icc, tmp_path / "o1.jpg")
    assert any("ICC profile unreadable" in n for n in notes), notes
    assert opened(out)[1] is None
    # a PNG whose EXIF is larger than the bound
    png = tagged(tmp_path / "p.png", pixels, None, None).read_bytes()
    body = b"MM\x00*" + b"\x00" * (MAX_EXIF_BYTES + 10)
    crc = struct.pack(">I", __import__("zlib").crc32(b"eXIf" + body))
    big = tmp_path / "big_exif.png"
    big.write_bytes(png[:33] + struct.pack(">I", len(body)) + b"eXIf" + body + crc + png[33:])
    out, notes = restore_one(big, tmp_path / "o2.png")
    assert any("EXIF too large" in n for n in notes), notes
    assert opened(out)[2].get(MAKE) is None
    # a PNG whose iCCP chunk inflates to 16 MiB (a zlib bomb): Pillow stops at its bound
    import zlib

    bomb = _chunk(b"iCCP", b"p\x00\x00" + zlib.compress(b"\x00" * (16 * 2**20), 6))
    (tmp_path / "bomb.png").write_bytes(png[:33] + bomb + png[33:])
    out, notes = restore_one(tmp_path / "bomb.png", tmp_path / "o3.png")
    assert any("metadata unreadable" in n for n in notes), notes
    assert opened(out)[1] is None
    # EXIF whose first directory points outside the block
    broken = b"II*\x00" + struct.pack("<I", 10_000) + b"\x00" * 16
    assert read_metadata(png[:33] + _chunk(b"eXIf", broken) + png[33:], "png").exif is None


def _chunk(kind: bytes, body: bytes) -> bytes:
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_cmyk_profile_on_rgb_pixels_is_dropped():
    cmyk_like = bytearray(ADOBE_RGB)
    cmyk_like[16:20] = b"CMYK"
    plan = plan_colour(np.zeros((4, 4, 3), np.float32), bytes(cmyk_like))
    assert plan.icc_profile is None and plan.notes
    assert not plan.converted


def test_sixteen_bit_png_keeps_its_bits_and_profile(tmp_path):
    import cv2

    if not hasattr(cv2, "imencodeWithMetadata"):
        pytest.skip("this OpenCV cannot write a tagged 16-bit PNG for the test")
    pixels = (photo(seed=7).astype(np.uint16) * 257) ^ np.uint16(0x0011)  # not 8-bit values
    exif = np.frombuffer(camera_exif(orientation=1).tobytes()[6:], np.uint8)
    ok, buf = cv2.imencodeWithMetadata(
        ".png", np.ascontiguousarray(pixels[:, :, ::-1]),
        [cv2.IMAGE_METADATA_ICCP, cv2.IMAGE_METADATA_EXIF],
        [np.frombuffer(ADOBE_RGB, np.uint8), exif], [],
    )  # fmt: skip
    assert ok
    src = tmp_path / "in16.png"
    src.write_bytes(buf.tobytes())
    assert read_image(src).icc_profile == ADOBE_RGB
    out, _ = restore_one(src, tmp_path / "out16.png", strength=0.0, ext="png", suffix="_x")
    raw = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, pixels)  # untouched pixels keep all 16 bits
    assert read_image(out).icc_profile == ADOBE_RGB
    # a 16-bit TIFF gets the profile and EXIF too (and all 16 bits)
    out_tif, notes = restore_one(src, tmp_path / "out16.tif", strength=0.0)
    assert notes == ()
    back = read_image(out_tif)
    assert back.bit_depth == 16 and back.icc_profile == ADOBE_RGB and back.format == "tiff"
    np.testing.assert_array_equal(np.rint(back.color * 65535).astype(np.uint16), pixels)
    with Image.open(out_tif) as im:
        assert im.info.get("icc_profile") == ADOBE_RGB
        exif = im.getexif()
        assert exif[MAKE] == "Canon" and exif.get_ifd(EXIF_IFD)[LENS] == "RF 50mm F1.2"


@pytest.mark.parametrize("ext, depth", [(".jpg", 8), (".png", 8), (".png", 16), (".tif", 8),
                                        (".tif", 16), (".webp", 8)])  # fmt: skip
@pytest.mark.parametrize("quality", [None, 60])
def test_write_image_embeds_what_it_is_given(tmp_path, ext, depth, quality):
    """The library call, with or without alpha, lossy or not, EXIF given with its
    ``Exif\\0\\0`` prefix (as Pillow makes it) or without."""
    from deblur.io import write_image

    rng = np.random.default_rng(0)
    color, alpha = rng.random((20, 30, 3), np.float32), rng.random((20, 30), np.float32)
    raw = camera_exif(orientation=8).tobytes()
    for n, (blob, a) in enumerate([(raw, None), (raw[6:], alpha)]):
        q = quality if ext in (".jpg", ".webp") else None
        notes: list[str] = []
        path = write_image(tmp_path / f"x{n}{ext}", color, alpha=a, icc_profile=ADOBE_RGB,
                           exif=blob, quality=q, bit_depth=depth, notes=notes)  # fmt: skip
        assert notes == []
        assert read_image(path).bit_depth == depth
        with Image.open(path) as im:
            im.load()
            exif = im.getexif()
            assert im.info.get("icc_profile") == ADOBE_RGB
            assert exif[MAKE] == "Canon" and exif[ORIENTATION] == 1
            assert exif.get_ifd(EXIF_IFD)[LENS] == "RF 50mm F1.2"
            assert exif.get_ifd(GPS_IFD)[2] == (52.0, 31.0, 12.5)
            assert im.size == (30, 20)
        assert (read_image(path).alpha is not None) == (a is not None and ext != ".jpg")


def test_gray_photo_keeps_its_gray_profile(tmp_path):
    gray_icc = matrix_profile("Gray gamma 2.2", (0, 0, 0), (0, 0, 0), (0, 0, 0), 2.2, gray=True)
    assert ImageCms.ImageCmsProfile(io.BytesIO(gray_icc)).profile.xcolor_space.strip() == "GRAY"
    pixels = photo(seed=8)[:, :, 1]
    src = tmp_path / "g.jpg"
    Image.fromarray(pixels).save(src, "JPEG", quality=95, icc_profile=gray_icc,
                                 exif=camera_exif().tobytes())  # fmt: skip
    image = read_image(src)
    assert image.color.shape[2] == 1 and image.icc_profile == gray_icc
    plan = plan_colour(image.color, gray_icc)
    assert not plan.converted and plan.icc_profile == gray_icc
    out, notes = restore_one(src, tmp_path / "g_out.png")
    with Image.open(out) as im:
        assert im.mode == "L" and im.info.get("icc_profile") == gray_icc
        assert im.getexif()[MAKE] == "Canon"
    assert notes == ()
    # an RGB profile on a gray image cannot describe it: dropped, with a note
    wrong = plan_colour(image.color, ADOBE_RGB)
    assert wrong.icc_profile is None and "RGB colour space on a gray image" in wrong.notes[0]

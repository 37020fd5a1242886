"""PSF constructors, file loading, spec parsing and the blur operator with its adjoint."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.signal
import torch

from deblur.errors import PSFError
from deblur.psf import (
    BOUNDARIES,
    FFTBlur,
    blur,
    blur_adjoint,
    camera_shake,
    check_psf_fits,
    disk,
    fold_pad,
    gaussian,
    load_psf,
    motion,
    pad_for_psf,
    parse_psf,
    psf_pad_widths,
    psf_to_otf,
)

METHODS = ("fft", "direct")


def centre_of_mass(k: np.ndarray) -> tuple[float, float]:
    yy, xx = np.indices(k.shape)
    return float((yy * k).sum() / k.sum()), float((xx * k).sum() / k.sum())


def random_psf(shape, seed=0, dtype=torch.float64) -> torch.Tensor:
    k = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return k / k.sum(dim=(-2, -1), keepdim=True)


def rand(*shape, seed=0, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --------------------------------------------------------------------------------------
# Constructors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "k",
    [gaussian(1.5), gaussian(0.4), disk(3), disk(0.3), disk(2.5), motion(9, 0), motion(9, 90)]
    + [motion(12, 30), motion(1)],
    ids=["gauss1.5", "gauss0.4", "disk3", "disk0.3", "disk2.5", "mot0", "mot90", "mot30", "m1"],
)
def test_symmetric_constructors_are_normalised_and_centred(k):
    assert k.dtype == np.float32 and k.ndim == 2
    assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
    assert k.min() >= 0
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    cy, cx = centre_of_mass(k.astype(np.float64))
    assert cy == pytest.approx(k.shape[0] // 2, abs=1e-3)
    assert cx == pytest.approx(k.shape[1] // 2, abs=1e-3)


def test_constructor_sizes():
    assert gaussian(2.0).shape == (13, 13)
    assert gaussian(1.0, size=6).shape == (6, 6)
    assert np.unravel_index(gaussian(1.0, size=6).argmax(), (6, 6)) == (3, 3)  # even: h // 2
    assert disk(4).shape == (9, 9)
    assert motion(21, 45).shape[0] >= 21


def test_constructors_reject_bad_parameters():
    for call in (
        lambda: gaussian(0),
        lambda: disk(-1),
        lambda: motion(0.5),
        lambda: camera_shake(2),
    ):
        with pytest.raises(ValueError):
            call()


def test_camera_shake_is_seeded_normalised_and_centred():
    a, b, c = camera_shake(15, 3), camera_shake(15, 3), camera_shake(15, 4)
    assert a.shape == (15, 15) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.sum() == pytest.approx(1.0, abs=1e-6)
    cy, cx = centre_of_mass(a.astype(np.float64))
    assert abs(cy - 7) < 1.0 and abs(cx - 7) < 1.0
    assert camera_shake(16, 0).shape == (16, 16)


# --------------------------------------------------------------------------------------
# load_psf
# --------------------------------------------------------------------------------------


def _kernel() -> np.ndarray:
    k = np.zeros((5, 7), np.float64)
    k[1:4, 2:6] = [[1, 2, 3, 4], [2, 4, 6, 8], [1, 1, 1, 1]]
    return k / k.sum()


def test_load_npy(tmp_path):
    np.save(tmp_path / "k.npy", _kernel() * 7)
    k = load_psf(tmp_path / "k.npy")
    assert k.dtype == np.float32 and k.shape == (5, 7)
    np.testing.assert_allclose(k, _kernel(), atol=1e-7)


@pytest.mark.parametrize(
    "ext,dtype", [(".png", np.uint8), (".png", np.uint16), (".tif", np.uint16)]
)
def test_load_image_formats(tmp_path, ext, dtype):
    top = np.iinfo(dtype).max
    img = np.round(_kernel() / _kernel().max() * top).astype(dtype)
    path = tmp_path / f"k{ext}"
    assert cv2.imwrite(str(path), img)
    k = load_psf(str(path))
    np.testing.assert_allclose(k, img / img.sum(), atol=1e-6)


def test_load_float_tiff_and_equal_channel_png(tmp_path):
    assert cv2.imwrite(str(tmp_path / "k.tiff"), _kernel().astype(np.float32))
    np.testing.assert_allclose(load_psf(tmp_path / "k.tiff"), _kernel(), atol=1e-6)
    rgb = np.repeat((_kernel() / _kernel().max() * 255).round().astype(np.uint8)[..., None], 3, 2)
    assert cv2.imwrite(str(tmp_path / "rgb.png"), rgb)
    assert load_psf(tmp_path / "rgb.png").shape == (5, 7)


@pytest.mark.parametrize("sep", [" ", ",", ", ", "\t"])
def test_load_txt(tmp_path, sep):
    lines = [sep.join(f"{v:.9g}" for v in row) for row in _kernel()]
    (tmp_path / "k.txt").write_text("# a kernel\n" + "\n".join(lines) + "\n\n")
    np.testing.assert_allclose(load_psf(tmp_path / "k.txt"), _kernel(), atol=1e-7)


def _one_line_error(path, match):
    with pytest.raises(ValueError, match=match) as info:
        load_psf(path)
    message = str(info.value)
    assert "\n" not in message and path.name in message
    return message


def test_load_bad_contents(tmp_path):
    neg = _kernel().copy()
    neg[0, 0] = -0.5
    np.save(tmp_path / "neg.npy", neg)
    _one_line_error(tmp_path / "neg.npy", "negative")
    nan = _kernel().copy()
    nan[2, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    _one_line_error(tmp_path / "nan.npy", "NaN")
    assert cv2.imwrite(str(tmp_path / "zero.png"), np.zeros((5, 5), np.uint8))
    _one_line_error(tmp_path / "zero.png", "all zero")
    np.save(tmp_path / "cube.npy", np.ones((2, 3, 3)))
    _one_line_error(tmp_path / "cube.npy", r"\(h, w\)")
    (tmp_path / "nan.txt").write_text("1 nan\n1 1\n")
    _one_line_error(tmp_path / "nan.txt", "NaN")


def test_load_bad_files(tmp_path):
    (tmp_path / "ragged.txt").write_text("1 2 3\n4 5\n")
    _one_line_error(tmp_path / "ragged.txt", "rows")
    (tmp_path / "words.txt").write_text("1 2\nthree 4\n")
    _one_line_error(tmp_path / "words.txt", "line 2")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    _one_line_error(tmp_path / "empty.txt", "no numbers")
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    _one_line_error(tmp_path / "junk.png", "decode")
    (tmp_path / "junk.npy").write_bytes(b"garbage")
    _one_line_error(tmp_path / "junk.npy", "npy")
    (tmp_path / "k.bmp").write_bytes(b"BM")
    _one_line_error(tmp_path / "k.bmp", "unsupported")
    color = np.zeros((5, 5, 3), np.uint8)
    color[2, 2] = (10, 20, 30)
    assert cv2.imwrite(str(tmp_path / "color.png"), color)
    _one_line_error(tmp_path / "color.png", "grayscale")
    with pytest.raises(PSFError):
        load_psf(tmp_path / "missing.npy")


# --------------------------------------------------------------------------------------
# parse_psf / check_psf_fits
# --------------------------------------------------------------------------------------


def test_parse_psf_forms(tmp_path):
    np.testing.assert_array_equal(parse_psf("gaussian:2.0"), gaussian(2.0))
    np.testing.assert_array_equal(parse_psf("disk:4"), disk(4))
    np.testing.assert_array_equal(parse_psf("motion:21,45"), motion(21, 45))
    np.testing.assert_array_equal(parse_psf(" Motion : 9"), motion(9, 0))
    np.testing.assert_array_equal(parse_psf("shake:15,3"), camera_shake(15, 3))
    np.save(tmp_path / "k.npy", _kernel())
    np.testing.assert_allclose(parse_psf(str(tmp_path / "k.npy")), _kernel(), atol=1e-7)


@pytest.mark.parametrize(
    "spec", ["gauss:2", "gaussian", "gaussian:", "gaussian:a", "motion:1,2,3", "shake:15", ""]
)
def test_parse_psf_bad_spec_lists_forms(spec):
    with pytest.raises(ValueError, match="accepted forms") as info:
        parse_psf(spec)
    message = str(info.value)
    assert "\n" not in message
    for form in ("gaussian:SIGMA", "disk:RADIUS", "motion:LENGTH,ANGLE", "shake:SIZE,SEED"):
        assert form in message


def test_parse_psf_bad_values():
    for spec in ("gaussian:-1", "disk:0", "shake:15.5,2", "shake:2,1"):
        with pytest.raises(ValueError, match="bad PSF spec"):
            parse_psf(spec)


def test_check_psf_fits():
    check_psf_fits(np.ones((5, 5)), (5, 9))
    check_psf_fits((3, 4), (3, 4))
    with pytest.raises(ValueError, match=r"7x3 is larger than the 6x6 image"):
        check_psf_fits(np.ones((7, 3)), (6, 6))
    with pytest.raises(ValueError, match="larger"):
        check_psf_fits(torch.ones(2, 1, 3, 9), (1, 3, 8, 8))


# --------------------------------------------------------------------------------------
# blur / blur_adjoint
# --------------------------------------------------------------------------------------

IMAGE_SIZES = [(9, 9), (8, 10), (7, 12)]
PSF_SIZES = [(1, 1), (3, 3), (4, 4), (3, 6), (5, 2)]


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", [3, 4])
def test_centred_delta_is_identity(boundary, method, size):
    x = rand(2, 3, 8, 11)
    d = np.zeros((size, size))
    d[size // 2, size // 2] = 1
    torch.testing.assert_close(blur(x, d, boundary, method), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(blur_adjoint(x, d, boundary, method), x, atol=1e-12, rtol=0)


@pytest.mark.parametrize("method", METHODS)
def test_offset_delta_shifts_image_down(method):
    x = rand(1, 1, 8, 8)
    d = np.zeros((3, 3))
    d[2, 1] = 1  # one row below the centre: y[n] = x[n - 1]
    y = blur(x, d, "periodic", method)
    torch.testing.assert_close(y, torch.roll(x, 1, dims=-2), atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "boundary,np_mode", [("reflect", "reflect"), ("periodic", "wrap"), ("zero", "constant")]
)
@pytest.mark.parametrize("psf_shape", [(3, 5), (4, 4)])
def test_blur_matches_padded_scipy_convolution(boundary, np_mode, psf_shape):
    x = rand(1, 1, 9, 12)
    k = random_psf(psf_shape, seed=1)
    t, b, left, r = psf_pad_widths(psf_shape)
    xp = np.pad(x[0, 0].numpy(), ((t, b), (left, r)), mode=np_mode)
    ref = scipy.signal.convolve(xp, k.numpy(), mode="valid")
    for method in METHODS:
        np.testing.assert_allclose(blur(x, k, boundary, method)[0, 0].numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("image_hw", IMAGE_SIZES)
@pytest.mark.parametrize("psf_hw", PSF_SIZES)
def test_fft_matches_direct(boundary, image_hw, psf_hw):
    x = rand(2, 3, *image_hw, dtype=torch.float32)
    k = random_psf(psf_hw, seed=2, dtype=torch.float32)
    a = blur(x, k, boundary, "fft")
    assert a.shape == x.shape and a.dtype == torch.float32
    torch.testing.assert_close(a, blur(x, k, boundary, "direct"), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        blur_adjoint(x, k, boundary, "fft"),
        blur_adjoint(x, k, boundary, "direct"),
        atol=1e-5,
        rtol=0,
    )


def _operator(backend: str, k: torch.Tensor, hw: tuple[int, int], boundary: str):
    """(A, A^T) of one backend of the blur operator, on float64 tensors."""
    if backend == "numpy":  # what Richardson-Lucy and Wiener iterate with
        op = FFTBlur(k, hw, boundary)
        return (
            lambda x: torch.from_numpy(op.forward(x.numpy()).astype(np.float64)),
            lambda y: torch.from_numpy(op.adjoint(y.numpy()).astype(np.float64)),
        )
    method = backend.removeprefix("torch-")
    return (lambda x: blur(x, k, boundary, method), lambda y: blur_adjoint(y, k, boundary, method))


BACKENDS = tuple(f"torch-{m}" for m in METHODS + ("auto",)) + ("numpy",)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "image_hw,psf_hw", [((9, 9), (3, 3)), ((8, 10), (4, 4)), ((7, 12), (5, 2)), ((6, 6), (6, 5))]
)
def test_adjointness(boundary, backend, image_hw, psf_hw):
    """<A x, y> == <x, A^T y> for every backend and boundary, odd/even/non-square sizes."""
    x, y = rand(2, 2, *image_hw, seed=3), rand(2, 2, *image_hw, seed=4)
    k = random_psf(psf_hw, seed=5)
    A, At = _operator(backend, k, image_hw, boundary)
    lhs = (A(x) * y).sum()
    rhs = (x * At(y)).sum()
    # the numpy backend keeps its transfer function in complex64
    rel = 1e-6 if backend == "numpy" else 1e-12
    assert float(lhs) == pytest.approx(float(rhs), rel=rel, abs=1e-12)
    # and every backend is the same operator
    torch.testing.assert_close(A(x), blur(x, k, boundary, "direct"), atol=1e-5, rtol=0)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_adjointness_per_image_psf(boundary):
    x, y = rand(3, 2, 9, 8, seed=6), rand(3, 2, 9, 8, seed=7)
    k = random_psf((3, 1, 4, 3), seed=8)
    for method in METHODS:
        lhs = (blur(x, k, boundary, method) * y).sum()
        rhs = (x * blur_adjoint(y, k, boundary, method)).sum()
        assert float(lhs) == pytest.approx(float(rhs), rel=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_per_image_psfs_match_separate_calls(method):
    x = rand(3, 2, 10, 9, seed=9)
    k = random_psf((3, 1, 5, 4), seed=10)
    out = blur(x, k, "reflect", method)
    adj = blur_adjoint(x, k, "reflect", method)
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], blur(x[i : i + 1], k[i, 0], "reflect", method))
        torch.testing.assert_close(
            adj[i : i + 1], blur_adjoint(x[i : i + 1], k[i, 0], "reflect", method)
        )
    shared = blur(x, k[:1], "reflect", method)  # (1, 1, h, w) broadcasts
    torch.testing.assert_close(shared, blur(x, k[0, 0], "reflect", method))


@pytest.mark.parametrize("method", METHODS)
def test_non_contiguous_input(method):
    base = rand(2, 3, 12, 10, seed=11)
    x = base.transpose(-1, -2)  # (2, 3, 10, 12) view
    assert not x.is_contiguous()
    k = random_psf((3, 4), seed=12)
    torch.testing.assert_close(
        blur(x, k, "reflect", method), blur(x.contiguous(), k, "reflect", method)
    )
    sliced = base[:, ::2]
    torch.testing.assert_close(
        blur_adjoint(sliced, k, "zero", method),
        blur_adjoint(sliced.contiguous(), k, "zero", method),
    )


def test_numpy_psf_is_normalised_but_tensor_is_not():
    x = rand(1, 1, 6, 6)
    k = np.ones((3, 3))
    torch.testing.assert_close(blur(x, k, "periodic"), blur(x, k / 9, "periodic"))
    torch.testing.assert_close(
        blur(x, torch.ones(3, 3, dtype=torch.float64), "periodic"), 9 * blur(x, k, "periodic")
    )


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("method", METHODS)
def test_gradcheck(boundary, method):
    x = rand(1, 2, 6, 7, seed=13).requires_grad_()
    k = random_psf((3, 4), seed=14).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: blur(a, b, boundary, method), (x, k))


def test_pad_and_fold_are_adjoint_for_numpy_and_torch():
    for boundary in BOUNDARIES:
        x, z = rand(1, 2, 7, 9, seed=15), rand(1, 2, 7 + 4, 9 + 2, seed=16)
        lhs = (pad_for_psf(x, (5, 3), boundary) * z).sum()
        rhs = (x * fold_pad(z, (5, 3), boundary)).sum()
        assert float(lhs) == pytest.approx(float(rhs), rel=1e-12)
        np.testing.assert_allclose(
            pad_for_psf(x.numpy(), (5, 3), boundary), pad_for_psf(x, (5, 3), boundary).numpy()
        )
        np.testing.assert_allclose(
            fold_pad(z.numpy(), (5, 3), boundary), fold_pad(z, (5, 3), boundary).numpy()
        )


def test_psf_to_otf_of_centred_delta_is_one():
    d = torch.zeros(4, 5, dtype=torch.float64)
    d[2, 2] = 1
    otf = psf_to_otf(d, (8, 10))
    assert otf.shape == (8, 6)
    torch.testing.assert_close(otf, torch.ones_like(otf))
    assert psf_to_otf(random_psf((2, 1, 3, 3)), (6, 6)).shape == (2, 1, 6, 4)


def test_blur_errors_name_expected_shapes():
    k = np.ones((3, 3))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        blur(torch.rand(5, 5), k)
    with pytest.raises(TypeError, match=r"\(B, C, H, W\)"):
        blur(np.ones((1, 1, 5, 5)), k)
    with pytest.raises(ValueError, match=r"\(h, w\) or \(2, 1, h, w\)"):
        blur(torch.rand(2, 1, 5, 5), torch.rand(3, 1, 3, 3))
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        blur(torch.rand(1, 1, 5, 5), torch.rand(1, 3, 3))
    with pytest.raises(ValueError, match="larger"):
        blur_adjoint(torch.rand(1, 1, 5, 5), np.ones((7, 3)))
    with pytest.raises(ValueError, match="boundary"):
        blur(torch.rand(1, 1, 5, 5), k, boundary="mirror")
    with pytest.raises(ValueError, match="method"):
        blur(torch.rand(1, 1, 5, 5), k, method="fast")
    with pytest.raises(ValueError, match="negative"):
        blur(torch.rand(1, 1, 5, 5), -np.ones((3, 3)))


# --------------------------------------------------------------------------------------
# Hostile PSF files and specs: one PSFError, bounded memory (issue #13)
# --------------------------------------------------------------------------------------


def test_text_file_named_npy_gets_one_clear_line(tmp_path):
    (tmp_path / "k.npy").write_text("0 1 0\n1 4 1\n0 1 0\n")
    message = _one_line_error(tmp_path / "k.npy", "not a NumPy .npy file")
    assert "holds text" in message and ".txt" in message


def _npy_with_shape(path, shape, descr="<f8", body=b""):
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + body)


@pytest.mark.parametrize(
    "shape,descr,match",
    [
        ((100_000, 100_000), "<f8", "larger than the largest"),  # 80 GB claimed, 0 B held
        ((1002, 3), "<f4", "larger than the largest"),
        ((5, 5), "<f8", "truncated"),
        ((5, 5), "|O", "Python objects"),
        ((2, 2, 2), "<f4", r"\(h, w\)"),
        ((2,), "<f4", r"\(h, w\)"),
    ],
)
def test_npy_header_checked_before_allocating(tmp_path, shape, descr, match):
    _npy_with_shape(tmp_path / "k.npy", shape, descr, body=bytes(16))
    _one_line_error(tmp_path / "k.npy", match)


def test_text_and_image_psfs_are_bounded(tmp_path):
    (tmp_path / "wide.txt").write_text(" ".join(["1"] * 1002) + "\n")
    _one_line_error(tmp_path / "wide.txt", "larger than")
    (tmp_path / "tall.txt").write_text("1\n" * 1002)
    _one_line_error(tmp_path / "tall.txt", "larger than")
    (tmp_path / "latin1.txt").write_bytes(b"1 \xe9 2\n")
    _one_line_error(tmp_path / "latin1.txt", "UTF-8")
    ihdr = (60_000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    import struct
    import zlib

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    (tmp_path / "huge.png").write_bytes(png)
    _one_line_error(tmp_path / "huge.png", "larger than the largest")


def test_huge_values_normalise_to_a_valid_psf(tmp_path):
    np.save(tmp_path / "k.npy", np.array([[1e308, 1e308], [1e308, 0.0]]))
    k = load_psf(tmp_path / "k.npy")
    assert k.sum() == pytest.approx(1.0) and k.min() >= 0


@pytest.mark.parametrize(
    "spec",
    [
        "gaussian:1e308",  # the side overflowed to inf (math.ceil raised OverflowError)
        "disk:1e308",
        "shake:inf,1",  # int(inf) raised OverflowError
        "shake:15,-1",
        "gaussian:nan",
        "a" * 5000,  # Path.is_file raised OSError (name too long)
        "k\x00.npy",
        "/" * 5000,
        "missing.npy",
    ],
)
def test_hostile_specs_raise_psf_error(spec):
    with pytest.raises(PSFError) as info:
        parse_psf(spec)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600

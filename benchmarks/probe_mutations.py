"""Made-up and mutated inputs for ``benchmarks/probe_cases.py``: checkpoints with one change,
corrupted and made-up images, PSF files."""

from __future__ import annotations

import io
import json
import math
import random
import struct
import zlib
from pathlib import Path


def ckpt_mutations(base: dict) -> list[tuple[str, dict]]:
    """Named one-change copies of a checkpoint dict (the issue's kinds and more)."""
    import torch

    def copy() -> dict:
        s = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        opt = base["optimizer"]
        s["optimizer"] = {"state": {i: dict(v) for i, v in opt["state"].items()},
                          "param_groups": [dict(g) for g in opt["param_groups"]]}  # fmt: skip
        return s

    out: list[tuple[str, dict]] = [("sound", copy())]
    names = sorted(base["model"])
    for part in ("model", "ema"):
        for key in (names[0], names[len(names) // 2], names[-1]):
            t = base[part][key]
            for how, value in (("shape", torch.zeros(t.numel() + 1)), ("dtype", t.double()),
                               ("nan", torch.full_like(t, math.nan)), ("list", t.tolist()),
                               ("huge", torch.zeros(1).expand(10**6))):  # fmt: skip
                s = copy()
                s[part][key] = value
                out.append((f"{part}.{key}:{how}", s))
            s = copy()
            del s[part][key]
            out.append((f"{part}.{key}:missing", s))
        s = copy()
        s[part]["fuse.9.weight"] = torch.zeros(3)
        out.append((f"{part}:extra key", s))
        s = copy()
        s[part] = None
        out.append((f"{part}:None", s))
    faults = {
        "params": lambda o: o["param_groups"][0].pop("params"),
        "params dup": lambda o: o["param_groups"][0].update(params=[0] * len(names)),
        "params out of range": lambda o: o["param_groups"][0].update(params=[10**9]),
        "step": lambda o: o["state"][0].pop("step"),
        "step text": lambda o: o["state"][0].update(step="x"),
        "exp_avg shape": lambda o: o["state"][1].update(exp_avg=torch.zeros(2, 2)),
        "exp_avg_sq missing": lambda o: o["state"][1].pop("exp_avg_sq"),
        "state key text": lambda o: o["state"].update(x={}),
        "groups dict": lambda o: o.update(param_groups={}),
        "two groups": lambda o: o["param_groups"].append(dict(o["param_groups"][0])),
        "no groups": lambda o: o.update(param_groups=[]),
        "state list": lambda o: o.update(state=[1]),
        "lr text": lambda o: o["param_groups"][0].update(lr="x"),
        "lr nan": lambda o: o["param_groups"][0].update(lr=math.nan),
        "betas": lambda o: o["param_groups"][0].update(betas=[2.0]),
        "extra": lambda o: o.update(extra=1),
    }
    for name, fault in faults.items():
        s = copy()
        fault(s["optimizer"])
        out.append((f"optimizer:{name}", s))
    for key in sorted(base["scheduler"]) + ["optimizer"]:
        for how, value in (("missing", None), ("junk", [{}]), ("text", "x")):
            s = copy()
            if how == "missing":
                if key not in s["scheduler"]:
                    continue
                del s["scheduler"][key]
            else:
                s["scheduler"][key] = value
            out.append((f"scheduler.{key}:{how}", s))
    bounds = {"width": [0, 1025, 24, 10**12, "3"], "res_blocks": [65, 3, -1], "scales": [9, 0],
              "context": [8, 2000], "fourier": [65, 2], "fourier_support": [4, 65],
              "ird_reach": [[0], [17], [2] * 20, 5], "extra": [1]}  # fmt: skip
    for key, values in bounds.items():
        for v in values:
            s = copy()
            s["net_config"][key] = v
            out.append((f"net_config.{key}={v!r}"[:60], s))
    for key, value in (("variant", 3), ("steps", 1.5), ("ckpt_every", 0), ("log_every", 0),
                       ("ema", 2), ("blur", 3), ("out", 3), ("sharp", 3), ("lr", "x"),
                       ("val_every", 0), ("unknown", 1)):  # fmt: skip
        s = copy()
        s["config"][key] = value
        out.append((f"config.{key}={value!r}", s))
    for key, value in (("step", -1), ("step", 1.5), ("step", 10**30), ("best_psnr", "x"),
                       ("wall_s", math.inf), ("val", [1]), ("val", {"val_psnr": 1.0}),
                       ("init", torch.ones(2)), ("rng", {}), ("net_config", [1]),
                       ("config", None), ("format", "deblur-checkpoint-v1")):  # fmt: skip
        s = copy()
        s[key] = value
        out.append((f"{key}={value!r}"[:60], s))
    for key in sorted(base):
        s = copy()
        del s[key]
        out.append((f"no {key}", s))
    s = copy()
    s["rng"] = dict(s["rng"], torch=torch.zeros(3, dtype=torch.uint8))
    out.append(("rng.torch short", s))
    return out


def _png_dims(png: bytes, w: int, h: int) -> bytes:
    """``png`` with its IHDR claiming ``w`` x ``h`` (the chunk's CRC fixed)."""
    ihdr = bytearray(png[12:29])
    ihdr[4:12] = struct.pack(">II", w, h)
    return png[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def _jpeg_dims(jpg: bytes, w: int, h: int) -> bytes:
    i = jpg.find(b"\xff\xc0")
    return jpg[: i + 5] + struct.pack(">HH", h, w) + jpg[i + 9 :]


def image_variants(photo: Path) -> list[tuple[str, bytes, str]]:
    """``(file name, bytes, expected)`` of corrupted and made-up images."""
    import cv2
    import numpy as np

    img = cv2.imread(str(photo), cv2.IMREAD_UNCHANGED)
    enc = {e: cv2.imencode("." + e, img)[1].tobytes() for e in ("png", "jpg", "tif", "bmp", "webp")}
    out: list[tuple[str, bytes, str]] = []
    for ext, data in enc.items():
        out += [(f"empty.{ext}", b"", "refuse"), (f"text.{ext}", b"hello\n", "refuse"),
                (f"truncated.{ext}", data[: len(data) // 2], "refuse"),
                (f"bitflip0.{ext}", flip(data, 16, 0), "any")]  # fmt: skip
    png, jpg, bmp = enc["png"], enc["jpg"], bytearray(enc["bmp"])
    bmp[18:26] = struct.pack("<ii", 10**6, -(10**6))
    bomb = cv2.imencode(".png", np.zeros((5000, 6000), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    small = cv2.resize(img, (48, 48))
    nan = np.full((32, 32, 3), np.nan, np.float32)

    def png_of(a) -> bytes:
        return cv2.imencode(".png", a)[1].tobytes()

    out += [("huge-claim.png", _png_dims(png, 100_000, 100_000), "refuse"),
            ("zero-dims.png", _png_dims(png, 0, 0), "refuse"),
            ("huge-claim.jpg", _jpeg_dims(jpg, 65_000, 65_000), "refuse"),
            ("huge-claim.bmp", bytes(bmp), "refuse"),
            ("30-megapixel bomb.png", bomb[1].tobytes(), "refuse"),
            ("jpeg-named.png", jpg, "any"), ("png-named.jpg", png, "any"),
            ("photo.xyz", png, "refuse"), ("photo.gif", png, "refuse"),
            ("small.png", cv2.imencode(".png", small)[1].tobytes(), "accept"),
            ("1x1.png", cv2.imencode(".png", img[:1, :1])[1].tobytes(), "any"),
            ("1x5000.png", png_of(np.zeros((5000, 1), np.uint8)), "any"),
            ("16-bit.png", png_of(img.astype(np.uint16) * 257), "accept"),
            ("nan-float.tif", cv2.imencode(".tif", nan)[1].tobytes(), "any"),
            ("two-chunk-junk.png", png[:33] + b"\x00\x00\x00\x05junkXhello" + png[33:], "any"),
            ]  # fmt: skip
    return out


def _npy(arr, **kw) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return buf.getvalue()


def psf_files() -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of bad PSF files (all to be refused)."""
    import cv2
    import numpy as np

    ok = np.ones((5, 5), np.float32) / 25
    huge = (
        b"\x93NUMPY\x01\x00"
        + b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }"
    )
    huge = huge + b" " * (118 - len(huge)) + b"\n" + ok.tobytes()
    return [("pickle.npy", _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)),
            ("header-huge.npy", huge), ("3d.npy", _npy(np.ones((3, 3, 3)))),
            ("complex.npy", _npy(ok.astype(np.complex64))), ("nan.npy", _npy(ok * np.nan)),
            ("inf.npy", _npy(ok * np.inf)), ("zeros.npy", _npy(ok * 0)),
            ("negative.npy", _npy(-ok)), ("1002 a side.npy", _npy(np.ones((1002, 1), np.float32))),
            ("empty.npy", _npy(np.ones((0, 0)))), ("text-named.npy", b"1 2\n3 4\n"),
            ("strings.npy", _npy(np.array([["a"]]))),
            ("bad-header.npy", b"\x93NUMPY\x01\x00" + b"\xff" * 80),
            ("truncated.npy", _npy(ok)[:-40]), ("max-float.npy", _npy(np.full((3, 3), 1.7e308))),
            ("ragged.txt", b"1 2 3\n4 5\n"), ("latin1.txt", b"1 \xff\n"), ("empty.txt", b""),
            ("nan.txt", b"nan 1\n1 1\n"), ("2000 rows.txt", b"1\n" * 2000),
            ("black.png", cv2.imencode(".png", np.zeros((5, 5), np.uint8))[1].tobytes()),
            ("2000px.png", cv2.imencode(".png", np.ones((2000, 3), np.uint8))[1].tobytes()),
            ("kernel.gif", b"GIF89a")]  # fmt: skip


def weights_with(seed: bytes, config: object) -> bytes:
    """``seed`` (a .safetensors file) with its metadata's config replaced."""
    n = struct.unpack("<Q", seed[:8])[0]
    header = json.loads(seed[8 : 8 + n])
    header["__metadata__"]["config"] = json.dumps(config)
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + seed[8 + n :]


def flip(data: bytes, n: int, seed: int, start: int = 0) -> bytes:
    rng = random.Random(seed)
    b = bytearray(data)
    for _ in range(n):
        i = rng.randrange(min(start, len(b) - 1), len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def saved(torch, obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def deflated(data: bytes) -> bytes:
    import zipfile

    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info))
    return out.getvalue()


def claims_size(data: bytes) -> bytes:
    """The archive with every central-directory entry's uncompressed size set to 1 TB."""
    b, i = bytearray(data), 0
    while (i := b.find(b"PK\x01\x02", i)) >= 0:
        b[i + 24 : i + 28] = struct.pack("<I", 0xFFFFFFF0)
        i += 4
    return bytes(b)

"""Fuzz tests (Hypothesis): generated and mutated inputs for everything deblur reads.

Targets: image files (bit flips, truncation, insertions and header fields of tiny PNG, JPEG,
TIFF, BMP and WebP files made here with OpenCV; headers claiming any size), PSF specs and
PSF files (``.npy``, ``.txt``, ``.png``/``.tif``), dataset and pair-list discovery
(:func:`deblur.datasets.find_pairs`, ``read_pair_list``, ``list_photos``), weights files
(:func:`deblur.models.load_weights` on mutated safetensors files), training checkpoints
(:func:`deblur.training.load_checkpoint` on mutated and random bytes and structures) and the
command line's options (``restore`` and ``blur`` through ``typer.testing.CliRunner``).

The property everywhere: a result or a :class:`~deblur.errors.DeblurError` with a one-line
message, never another exception, and nothing written outside the output folder. Memory is
bounded: every case except the CLI runs in a worker process under ``RLIMIT_AS`` (its
address space at start plus :data:`HEADROOM_MB`), so a header that made a decoder allocate
gigabytes fails the test instead of the machine. No timing is asserted; a worker that does
not answer within :data:`HANG_S` seconds counts as hung.

Hypothesis runs derandomized (a fixed seed per test), without deadlines or a database;
``benchmarks/fuzz_long.py`` runs the same targets (:data:`TARGETS`) for longer with fresh
seeds. The bugs it found in other modules are pinned by regression tests at the end (and
in tests/test_fuzz_schemas.py: a ``**`` glob under two symlinks to an ancestor never ended).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __name__ != "__main__":  # the worker (python tests/test_fuzz.py --worker) needs neither
    import pytest
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]

#: Address space a worker may add to what it holds after its imports (RLIMIT_AS). A whole
#: read of the largest image the default pixel limit accepts (25 MP, 16-bit RGBA) needs
#: ~0.6 GB; a header that slipped past the limit (14000x14000 RGB: 0.6 GB to decode,
#: 2.4 GB as float32) does not fit.
HEADROOM_MB = 1024
#: Seconds a worker may take for one case before it counts as hung (never reached by a
#: correct case: each takes milliseconds).
HANG_S = 120.0

# ------------------------------------------------------------------------------------------
# The worker: runs one case at a time under RLIMIT_AS, answers one JSON line per case
# ------------------------------------------------------------------------------------------


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def _op_read_image(req: dict) -> Any:
    from deblur.io import read_image

    img = read_image(req["path"], max_pixels=req.get("max_pixels"))
    return {"shape": list(img.color.shape), "alpha": img.alpha is not None, "bits": img.bit_depth}


def _psf_info(k: Any) -> dict:
    return {"shape": list(k.shape), "dtype": str(k.dtype), "sum": float(k.sum()),
            "min": float(k.min())}  # fmt: skip


def _op_parse_psf(req: dict) -> Any:
    from deblur.psf import parse_psf

    return _psf_info(parse_psf(req["spec"]))


def _op_load_psf(req: dict) -> Any:
    from deblur.psf import load_psf

    return _psf_info(load_psf(req["path"]))


def _op_find_pairs(req: dict) -> Any:
    from deblur.datasets import find_pairs

    return {"pairs": len(find_pairs(req["root"]))}


def _op_read_pair_list(req: dict) -> Any:
    from deblur.datasets import read_pair_list

    return {"pairs": len(read_pair_list(req["path"], req.get("root")))}


def _op_list_photos(req: dict) -> Any:
    from deblur.datasets import list_photos

    return {"photos": len(list_photos(req["spec"], req.get("data_root")))}


def _op_load_weights(req: dict) -> Any:
    from deblur.models import load_weights

    return {"parameters": sum(p.numel() for p in load_weights(req["path"]).parameters())}


def _op_load_checkpoint(req: dict) -> Any:
    """What a resume does with a checkpoint before training: load it, compare its config,
    restore its random states (the worker's own states are put back afterwards)."""
    from deblur.training.checkpoint import (
        config_diff,
        get_rng_state,
        load_checkpoint,
        set_rng_state,
    )
    from deblur.training.config import TrainConfig

    ck = load_checkpoint(req["path"])
    diff = config_diff(ck["config"], TrainConfig(out="run").to_dict())
    saved = get_rng_state()
    try:
        set_rng_state(ck["rng"])
    finally:
        set_rng_state(saved)
    return {"step": ck["step"], "diff": len(diff)}


_OPS: dict[str, Callable[[dict], Any]] = {
    "read_image": _op_read_image,
    "parse_psf": _op_parse_psf,
    "load_psf": _op_load_psf,
    "find_pairs": _op_find_pairs,
    "read_pair_list": _op_read_pair_list,
    "list_photos": _op_list_photos,
    "load_weights": _op_load_weights,
    "load_checkpoint": _op_load_checkpoint,
}


def scrub_paths(text: str, *roots: str | Path) -> str:
    """``text`` without this machine's folders: the repository's files as relative paths,
    installed packages from ``site-packages/``, the standard library as ``<stdlib>/``, and
    each of ``roots`` (scratch folders) as ``<tmp>``."""
    import sysconfig

    for root in roots:
        text = text.replace(str(root), "<tmp>")
    text = text.replace(str(REPO) + os.sep, "")
    for name in ("purelib", "platlib"):
        text = text.replace(sysconfig.get_paths()[name] + os.sep, "site-packages/")
    return text.replace(sysconfig.get_paths()["stdlib"] + os.sep, "<stdlib>/")


def _classify(exc: BaseException) -> dict:
    from deblur.errors import DeblurError

    message = str(exc)
    if isinstance(exc, DeblurError):
        lowered = message.lower()
        status = "oom" if ("memory" in lowered or "allocat" in lowered) else "refused"
        return {"status": status, "type": type(exc).__name__, "message": message}
    tb = traceback.extract_tb(exc.__traceback__)
    where = scrub_paths(f"{tb[-1].filename}:{tb[-1].lineno}") if tb else "?"
    return {
        "status": "oom" if isinstance(exc, MemoryError) else "bug",
        "type": type(exc).__name__,
        "message": message[:500],
        "where": where,
        "traceback": scrub_paths("".join(traceback.format_exception(exc)))[-3000:],
    }


def _worker_main(headroom_mb: int) -> None:
    import resource

    import cv2
    import numpy as np  # noqa: F401
    import torch

    import deblur.datasets  # noqa: F401
    import deblur.io  # noqa: F401
    import deblur.models  # noqa: F401
    import deblur.psf  # noqa: F401
    import deblur.training.checkpoint  # noqa: F401

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    limit = _vm_bytes() + headroom_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = sys.stdout
    out.write(json.dumps({"ready": True, "limit": limit}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            info = _OPS[req["op"]](req)
            resp = {"status": "ok", "info": info}
        except BaseException as exc:  # noqa: BLE001 - classified, reported to the parent
            resp = _classify(exc)
        resp["rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        out.write(json.dumps(resp, default=str) + "\n")
        out.flush()


class Sandbox:
    """A worker process under RLIMIT_AS; :meth:`call` runs one case in it. A crashed or
    hung worker is replaced by a fresh one (the case reports ``crash`` or ``hang``)."""

    def __init__(self, headroom_mb: int = HEADROOM_MB, hang_s: float = HANG_S) -> None:
        self.headroom_mb, self.hang_s = headroom_mb, hang_s
        self.proc: subprocess.Popen | None = None
        self.stderr = tempfile.TemporaryFile()
        self.calls = 0
        self.max_rss_growth_mb = 0.0

    def _start(self) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(self.headroom_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
            text=True, bufsize=1,
        )  # fmt: skip
        ready = self._read(timeout=600)
        if ready is None or not ready.get("ready"):
            raise RuntimeError(f"fuzz worker did not start: {self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-2000:].decode(errors="replace")

    def _read(self, timeout: float) -> dict | None:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def call(self, op: str, **req: Any) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        self.calls += 1
        try:
            self.proc.stdin.write(json.dumps({"op": op, **req}) + "\n")
            self.proc.stdin.flush()
            resp = self._read(self.hang_s)
        except (BrokenPipeError, OSError):
            resp = None
        if resp is None:
            hung = self.proc.poll() is None
            self.proc.kill()
            code = self.proc.wait()
            self.proc = None
            status = "hang" if hung else "crash"
            return {"status": status, "returncode": code, "stderr": self._stderr_tail()}
        self.max_rss_growth_mb = max(self.max_rss_growth_mb, resp.get("rss_growth_mb", 0.0))
        return resp

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.stderr.close()


# ------------------------------------------------------------------------------------------
# Context shared by the targets: the worker, a scratch folder, seed files
# ------------------------------------------------------------------------------------------


class Context:
    """The worker, a scratch folder and the seed files (a plain class: Hypothesis prints
    its short repr with a failing example, not its bytes)."""

    def __init__(self, sandbox: Sandbox, root: Path, images: dict[str, bytes], weights: bytes,
                 checkpoint: bytes, known_bugs: bool = False) -> None:  # fmt: skip
        self.sandbox, self.root, self.images = sandbox, root, images
        self.weights, self.checkpoint, self.counter = weights, checkpoint, 0
        #: also draw inputs that reach the known bugs of files this test does not own
        #: (benchmarks/fuzz_long.py does; the test suite leaves them out)
        self.known_bugs = known_bugs

    def __repr__(self) -> str:
        return f"Context({self.root})"

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A fresh folder for one case, removed afterwards."""
        self.counter += 1
        path = self.root / f"case{self.counter}"
        path.mkdir()
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def _image_seeds() -> dict[str, bytes]:
    """Tiny files of every format, depth and channel layout (6 x 8 pixels)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    u8 = (rng.random((6, 8, 4)) * 255).astype(np.uint8)
    u16 = (rng.random((6, 8, 4)) * 65535).astype(np.uint16)
    plan = {
        "gray8.png": (".png", u8[..., 0]), "rgb8.png": (".png", u8[..., :3]),
        "rgba8.png": (".png", u8), "gray16.png": (".png", u16[..., 0]),
        "rgba16.png": (".png", u16), "gray.jpg": (".jpg", u8[..., 0]),
        "rgb.jpg": (".jpg", u8[..., :3]), "gray8.tif": (".tif", u8[..., 0]),
        "rgb16.tif": (".tif", u16[..., :3]), "rgba8.tif": (".tif", u8),
        "rgb.bmp": (".bmp", u8[..., :3]), "gray.bmp": (".bmp", u8[..., 0]),
        "rgb.webp": (".webp", u8[..., :3]), "rgba.webp": (".webp", u8),
    }  # fmt: skip
    plan["cli.png"] = (".png", cv2.resize(u8[..., :3], (32, 24)))  # room for a 7x7 PSF
    seeds = {}
    for name, (ext, array) in plan.items():
        ok, buf = cv2.imencode(ext, array)
        assert ok, name
        seeds[name] = buf.tobytes()
    return seeds


def _weights_seed(folder: Path) -> bytes:
    from deblur.models import build_model, save_weights

    return save_weights(build_model("tiny"), folder / "tiny.safetensors").read_bytes()


def _checkpoint_state() -> dict:
    """A checkpoint dict as the training loop writes it (tiny network, one step)."""
    import torch

    from deblur.models import build_model
    from deblur.training.checkpoint import get_rng_state
    from deblur.training.config import TrainConfig

    torch.manual_seed(0)
    model = build_model("tiny")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.zeros(1, 3, 16, 16)).mean().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return {
        "model": model.state_dict(), "ema": dict(model.state_dict()),
        "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": 1,
        "best_psnr": float("-inf"), "wall_s": 0.5, "config": TrainConfig(out="run").to_dict(),
        "net_config": model.cfg.to_dict(), "val": {}, "init": None, "rng": get_rng_state(),
    }  # fmt: skip


def _checkpoint_seed() -> bytes:
    import torch

    from deblur.training.checkpoint import FORMAT

    buf = io.BytesIO()
    state = _checkpoint_state()
    torch.save({"format": FORMAT, **state}, buf)
    return buf.getvalue()


def make_context(root: Path, sandbox: Sandbox | None = None, known_bugs: bool = False) -> Context:
    root.mkdir(parents=True, exist_ok=True)
    return Context(
        sandbox=sandbox or Sandbox(),
        root=root,
        images=_image_seeds(),
        weights=_weights_seed(root),
        checkpoint=_checkpoint_seed(),
        known_bugs=known_bugs,
    )


# ------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------

_BIG = [0, 1, 2, 255, 256, 4096, 14000, 16383, 16384, 65535, 65536, 2**24, 2**31 - 1, 2**31,
        2**32 - 1]  # fmt: skip


def _mutate(draw: Any, data: bytes, max_ops: int = 4) -> bytes:
    """Apply 1..max_ops byte-level mutations (flip, set, truncate, insert, delete, a 16- or
    32-bit field set to an extreme, a block duplicated)."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "u16", "u32",
                                   "dup"]))  # fmt: skip
        pos = draw(st.integers(0, max(0, len(buf) - 1)))
        if op == "flip" and buf:
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and buf:
            buf[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=24))
        elif op == "delete":
            del buf[pos : pos + draw(st.integers(1, 24))]
        elif op in ("u16", "u32"):
            width = 2 if op == "u16" else 4
            value = draw(st.sampled_from(_BIG)) % (2 ** (8 * width))
            order = draw(st.sampled_from(["big", "little"]))
            buf[pos : pos + width] = value.to_bytes(width, order)
        elif op == "dup" and buf:
            end = min(len(buf), pos + draw(st.integers(1, 64)))
            buf[pos:pos] = buf[pos:end]
    return bytes(buf)


if __name__ != "__main__":
    _IMAGE_EXTS = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"]

    @st.composite
    def mutated_images(draw: Any, seeds: dict[str, bytes]) -> tuple[str, bytes, str]:
        name = draw(st.sampled_from(sorted(seeds)))
        data = _mutate(draw, seeds[name])
        native = "." + name.rsplit(".", 1)[1]
        ext = draw(st.sampled_from([native, native, *_IMAGE_EXTS]))
        return name, data, ext

    def _chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    @st.composite
    def claimed_sizes(draw: Any, seeds: dict[str, bytes]) -> tuple[str, bytes, str]:
        """Well-formed headers of every format claiming any width and height (the data
        after them is a tiny image's, or nothing)."""
        dims = st.one_of(st.sampled_from(_BIG), st.integers(0, 2**32 - 1))
        w, h = draw(dims), draw(dims)
        kind = draw(st.sampled_from(["png", "jpeg", "tiff", "bmp", "webp-vp8l", "webp-vp8x"]))
        if kind == "png":
            depth, color = draw(st.sampled_from([(8, 0), (8, 2), (16, 2), (8, 6), (16, 6), (8, 4)]))
            ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
            idat = zlib.compress(bytes(draw(st.integers(0, 64))))
            data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            data += _chunk(b"IEND", b"")
            return kind, data, ".png"
        if kind == "jpeg":
            jpeg = bytearray(seeds["rgb.jpg"])
            sof = jpeg.index(b"\xff\xc0")
            jpeg[sof + 5 : sof + 9] = struct.pack(">HH", h % 65536, w % 65536)
            return kind, bytes(jpeg), ".jpg"
        if kind == "tiff":
            pixels = bytes(64)
            entries = [
                (256, 4, w),
                (257, 4, h),
                (258, 3, 8),
                (259, 3, 1),
                (262, 3, 1),
                (273, 4, 8),
                (277, 3, 1),
                (278, 4, max(1, h)),
                (279, 4, len(pixels)),
            ]
            ifd = struct.pack("<H", len(entries))
            for tag, typ, value in entries:
                packed = struct.pack("<HH", value % 65536, 0) if typ == 3 else struct.pack(
                    "<I", value)  # fmt: skip
                ifd += struct.pack("<HHI", tag, typ, 1) + packed
            ifd += struct.pack("<I", 0)
            return kind, b"II*\x00" + struct.pack("<I", 8 + len(pixels)) + pixels + ifd, ".tif"
        if kind == "bmp":
            bpp, compression = draw(st.sampled_from([(24, 0), (8, 1), (4, 2), (32, 3), (8, 0)]))
            sw = struct.unpack("<i", struct.pack("<I", w))[0]
            sh = struct.unpack("<i", struct.pack("<I", h))[0]
            info = struct.pack("<IiiHHIIiiII", 40, sw, sh, 1, bpp, compression, 0, 0, 0, 0, 0)
            palette = bytes(4 * (2**bpp if bpp <= 8 else 0))
            body = bytes(draw(st.integers(0, 64)))
            offset = 14 + len(info) + len(palette)
            header = b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset)
            return kind, header + info + palette + body, ".bmp"
        if kind == "webp-vp8l":
            bits = ((w - 1) % 16384) | (((h - 1) % 16384) << 14)
            body = b"\x2f" + bits.to_bytes(4, "little") + bytes(draw(st.integers(0, 32)))
            chunk = b"VP8L" + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1)
            return kind, b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk, ".webp"
        seed = seeds["rgb.webp"]
        vp8x = bytes([0, 0, 0, 0]) + ((w - 1) % 2**24).to_bytes(3, "little")
        vp8x += ((h - 1) % 2**24).to_bytes(3, "little")
        chunks = b"VP8X" + struct.pack("<I", 10) + vp8x + seed[12:]
        return kind, b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks, ".webp"

    _NUMBER_TEXT = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(-(10**30), 10**30).map(str),
        st.sampled_from(
            [
                "1e308",
                "-1e308",
                "1e-320",
                "-0",
                "nan",
                "inf",
                "-inf",
                "0x10",
                "1_000",
                "\u0663",
                " 2 ",
                "",
                "1,",
                "5e2",
                "1001",
                "500",
                "501",
                "333.5",
                "1000.9",
                "3",
                "2.5",
            ]
        ),  # fmt: skip
        st.text(max_size=8),
    )
    _KINDS = st.one_of(
        st.sampled_from(
            [
                "gaussian",
                "disk",
                "motion",
                "shake",
                "Gaussian",
                " motion ",
                "auto",
                "",
                "GAUSSIAN",
                "disk ",
            ]
        ),  # fmt: skip
        st.text(max_size=10),
    )

    @st.composite
    def psf_specs(draw: Any) -> str:
        form = draw(st.sampled_from(["kind", "kind", "kind", "text", "long", "path"]))
        if form == "kind":
            numbers = draw(st.lists(_NUMBER_TEXT, min_size=0, max_size=3))
            sep = draw(st.sampled_from([":", ":", ": ", "::", ""]))
            return draw(_KINDS) + sep + ",".join(numbers)
        if form == "text":
            return draw(st.text(max_size=60))
        if form == "long":
            return draw(st.sampled_from(["a", "/", "gaussian:", "1", "\x00"])) * draw(
                st.integers(200, 5000)
            )
        name = draw(st.sampled_from(["k.npy", "k.txt", "k.png", "dir/", "../k.npy", "k.bmp"]))
        return name

    _NPY_DTYPES = ["<f4", ">f8", "<f2", "<i2", "|u1", "|b1", "<c8", "|O", "V8", "<M8[s]",
                   "<U3", "<i8"]  # fmt: skip

    def _npy_bytes(header: dict, body: bytes) -> bytes:
        text = repr(header).encode("latin1")
        text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body

    @st.composite
    def psf_files(draw: Any, seeds: dict[str, bytes]) -> tuple[str, bytes]:
        import numpy as np

        kind = draw(st.sampled_from(["npy", "npy-header", "npy-text", "txt", "txt-bytes",
                                     "image", "image-claim"]))  # fmt: skip
        if kind == "npy":
            dtype = draw(st.sampled_from(_NPY_DTYPES))
            shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
            arr = np.zeros(shape, dtype=dtype)
            if arr.size and dtype[1] in "fiu":
                arr[...] = np.asarray(
                    draw(st.lists(st.floats(-5, 5), min_size=arr.size, max_size=arr.size))
                ).reshape(shape).astype(dtype)  # fmt: skip
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=True)
            data = buf.getvalue()
            if draw(st.booleans()):
                data = _mutate(draw, data, max_ops=2)
            return ".npy", data
        if kind == "npy-header":
            dims = st.one_of(st.sampled_from(_BIG), st.integers(-5, 2**63 - 1))
            shape = tuple(draw(st.lists(dims, min_size=0, max_size=3)))
            header = {"descr": draw(st.sampled_from(_NPY_DTYPES)), "fortran_order": False,
                      "shape": shape}  # fmt: skip
            return ".npy", _npy_bytes(header, bytes(draw(st.integers(0, 256))))
        if kind == "npy-text":
            rows = draw(st.lists(st.lists(st.integers(0, 9), min_size=3, max_size=3), max_size=4))
            return ".npy", "\n".join(" ".join(map(str, r)) for r in rows).encode() + b"\n"
        if kind == "txt":
            token = st.one_of(
                st.sampled_from(
                    ["1", "0", "0.5", "nan", "inf", "-1", "#", ",", ";", "1e999", "x", "\t"]
                ),
                _NUMBER_TEXT,
            )
            rows = draw(st.lists(st.lists(token, max_size=6), max_size=8))
            text = "\n".join(" ".join(r) for r in rows)
            if draw(st.booleans()):
                text += "\n" + " ".join(["1"] * draw(st.sampled_from([1001, 1002, 3])))
            return ".txt", text.encode("utf-8", "surrogatepass")
        if kind == "txt-bytes":
            return ".txt", draw(st.binary(max_size=200))
        if kind == "image":
            name = draw(st.sampled_from(["gray8.png", "gray16.png", "rgb8.png", "rgba8.png",
                                         "gray8.tif", "rgb16.tif"]))  # fmt: skip
            data = seeds[name]
            if draw(st.booleans()):
                data = _mutate(draw, data, max_ops=2)
            return "." + name.rsplit(".", 1)[1], data
        _, data, ext = draw(claimed_sizes(seeds))
        return draw(st.sampled_from([".png", ".tif", ".tiff"])), data

    _TREE_NAMES = ["blur", "sharp", "psf", "a", "b", "x.png", "y.jpg", "a.png", "a.jpg",
                   "a.npy", ".h.png", "GOPR0001", "blur_gamma", "list.txt", "\u00e9.png",
                   "a b.png", "B.PNG"]  # fmt: skip

    @st.composite
    def dataset_trees(draw: Any, known_bugs: bool) -> list[tuple[tuple[str, ...], str]]:
        """Folder trees of images, junk, empty files, folders, FIFOs, unreadable files and
        symlinks (dangling, or to the root: loops, any number; ``known_bugs`` is unused
        since '**' globs end under them)."""
        entry = st.tuples(
            st.lists(st.sampled_from(_TREE_NAMES), min_size=1, max_size=4).map(tuple),
            st.sampled_from(
                [
                    "image",
                    "image",
                    "image",
                    "junk",
                    "empty",
                    "dir",
                    "loop",
                    "dangling",
                    "fifo",
                    "unreadable",
                ]
            ),  # fmt: skip
        )
        return draw(st.lists(entry, max_size=14))

    @st.composite
    def pair_lists(draw: Any) -> bytes:
        """Pair-list text: names, nonsense, names too long for the file system, bytes that
        are not UTF-8."""
        token = st.one_of(
            st.sampled_from(
                [
                    "a.png",
                    "blur/a.png",
                    "sharp/a.png",
                    "x.png",
                    "../a.png",
                    "/etc/passwd",
                    "#",
                    "\u00e9.png",
                    "missing.png",
                    "dir",
                    "a.png/",
                    "./a.png",
                ]
            ),  # fmt: skip
            st.text(st.characters(blacklist_categories=()),
                    min_size=1, max_size=12),
        )  # fmt: skip
        token = st.one_of(token, st.just("a" * 300))
        lines = draw(st.lists(st.lists(token, max_size=4), max_size=8))
        text = "\n".join(" ".join(line) for line in lines).encode("utf-8", "surrogatepass")
        if draw(st.integers(0, 5)) == 0:
            text = draw(st.binary(max_size=64)) + text
        return text

    _CONFIG_VALUES = st.one_of(
        st.integers(-3, 70), st.sampled_from([10**9, -(10**9), 2**63]),
        st.floats(allow_nan=True), st.text(max_size=4), st.none(), st.booleans(),
        st.lists(st.integers(-2, 40), max_size=4),
    )  # fmt: skip

    @st.composite
    def weights_files(draw: Any, seed: bytes) -> bytes:
        """A safetensors file with its bytes, its header's entries, or its metadata (the
        model config included: the tensors' SHA-256 does not cover it) changed."""
        how = draw(st.sampled_from(["bytes", "header", "random", "config"]))
        if how == "bytes":
            return _mutate(draw, seed)
        if how == "random":
            return draw(st.binary(max_size=300))
        n = struct.unpack("<Q", seed[:8])[0]
        header = json.loads(seed[8 : 8 + n])
        body = seed[8 + n :]
        meta = header["__metadata__"]
        if how == "config":
            config = json.loads(meta["config"])
            for _ in range(draw(st.integers(1, 3))):
                key = draw(st.sampled_from([*config, "extra", "ird_reach", "context"]))
                config[key] = draw(_CONFIG_VALUES)
            meta["config"] = json.dumps(config)
        else:
            for _ in range(draw(st.integers(1, 3))):
                names = sorted(k for k in header if k != "__metadata__")
                if not names:
                    break
                name = draw(st.sampled_from(names))
                field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "drop", "meta"]))
                if field == "dtype":
                    header[name]["dtype"] = draw(
                        st.sampled_from(["F16", "F64", "I64", "BOOL", "U8", "X", "BF16"])
                    )
                elif field == "shape":
                    header[name]["shape"] = draw(st.lists(st.sampled_from(_BIG), max_size=4))
                elif field == "data_offsets":
                    header[name]["data_offsets"] = sorted(
                        draw(st.lists(st.sampled_from(_BIG + [len(body)]), min_size=2,
                                      max_size=2)))  # fmt: skip
                elif field == "drop":
                    header.pop(name, None)
                else:
                    key = draw(st.sampled_from(["format", "tensor_sha256", "variant", "x"]))
                    meta[key] = draw(st.text(max_size=20))
        raw = json.dumps(header).encode()
        return struct.pack("<Q", len(raw)) + raw + body

    def _plain_values() -> Any:
        import torch

        leaves = st.one_of(
            st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
            st.text(max_size=8),
            st.sampled_from([torch.zeros(3), torch.zeros(5056, dtype=torch.uint8),
                             torch.zeros(624, dtype=torch.int64),
                             torch.zeros(625, dtype=torch.int64), torch.ones(2, 2)]),
        )  # fmt: skip

        def containers(children: Any) -> Any:
            return st.one_of(
                st.lists(children, max_size=3),
                st.dictionaries(st.text(max_size=6), children, max_size=3),
            )

        return st.recursive(leaves, containers, max_leaves=8)

    @st.composite
    def checkpoint_files(draw: Any, seed: bytes) -> bytes:
        """Checkpoint bytes mutated, random, or a real checkpoint's entries replaced."""
        import torch

        from deblur.training.checkpoint import FORMAT

        how = draw(st.sampled_from(["bytes", "bytes", "random", "structure", "structure"]))
        if how == "bytes":
            return _mutate(draw, seed)
        if how == "random":
            return draw(st.binary(max_size=300))
        state = torch.load(io.BytesIO(seed), weights_only=True)
        keys = sorted(state)
        for _ in range(draw(st.integers(1, 3))):
            key = draw(st.sampled_from([*keys, "rng.torch", "rng.numpy", "rng.python",
                                        "config.variant", "config.blur"]))  # fmt: skip
            value = draw(_plain_values())
            if draw(st.integers(0, 4)) == 0:
                state.pop(key.split(".")[0], None)
            elif "." in key:
                outer, inner = key.split(".")
                if isinstance(state.get(outer), dict):
                    state[outer][inner] = value
            else:
                state[key] = value
        if draw(st.booleans()):
            state["format"] = FORMAT
        buf = io.BytesIO()
        torch.save(state, buf)
        return buf.getvalue()

    _OPTION_TEXT = st.one_of(
        st.sampled_from(
            ["", "-1", "0", "nan", "inf", "1e309", "abc", "--", "-o", "3.5", "\u00e9", "1,2"]
        ),  # fmt: skip
        st.text(max_size=6),
    )

    def _opt(name: str, values: Any) -> Any:
        """An option: left out (12 in 24), a plausible value (11 in 24) or nonsense (1 in
        24), so that most runs get past option parsing and do some work."""

        def pick(k: int) -> Any:
            if k < 12:
                return st.just([])
            if k < 23:
                return values.map(lambda v: [name, str(v)])
            return _OPTION_TEXT.map(lambda v: [name, v])

        return st.integers(0, 23).flatmap(pick)

    def _suffixes() -> Any:
        """--suffix values, separators and '..' included (refused: an output must stay in
        the output folder)."""
        return st.one_of(
            st.sampled_from(["", "_x", ".png", " ", "-", "..", "\u00e9", "_deblurred",
                             "/../../x", "/a", "/../", "\\..\\x"]),
            st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
        )  # fmt: skip

    _GOOD_PSFS = ["auto", "gaussian:1", "gaussian:0.5", "disk:2", "motion:3,30", "shake:5,1",
                  "@psfdir", "@k.npy", "@k.txt", "disk:500", "gaussian:0.01"]  # fmt: skip

    @st.composite
    def restore_args(draw: Any) -> list[str]:
        """``restore`` options: a method and a PSF that mostly go together, then the rest."""
        args: list[str] = []
        method = draw(st.sampled_from(["net", "rl", "wiener", "rl", "wiener", None, "bad"]))
        if method == "bad":
            args += ["--method", draw(_OPTION_TEXT)]
        elif method is not None:
            args += ["--method", method]
        if (method in ("rl", "wiener")) != (draw(st.integers(0, 9)) == 0):
            args += ["--psf", draw(st.one_of(st.sampled_from(_GOOD_PSFS), psf_specs()))]
        args += draw(_opt("--iterations", st.integers(-2, 12)))
        args += draw(
            _opt(
                "--nsr",
                st.one_of(st.floats(1e-4, 1.0), st.floats(allow_nan=True, allow_infinity=True)),
            )
        )
        args += draw(_opt("--boundary", st.sampled_from(["reflect", "periodic", "zero"])))
        args += draw(st.sampled_from([[], [], ["--accelerate"]]))
        args += draw(st.one_of(st.just([]), _suffixes().map(lambda s: ["--suffix", s])))
        args += draw(st.sampled_from([[], [], ["--overwrite"], ["-r"]]))
        args += draw(_opt("--tile", st.sampled_from([0, 1, 16, 63, 64, 100, 10**6])))
        args += draw(_opt("--tile-overlap", st.sampled_from([0, 8, 32, 64, 128, 10**6])))
        args += draw(_opt("--device", st.sampled_from(["cpu", "auto", "cpu", "cuda", "mps"])))
        args += draw(_opt("--threads", st.sampled_from([1, 2, 0])))
        args += draw(_opt("--wiener-reg", st.sampled_from(["identity", "laplacian"])))
        args += draw(st.sampled_from([[], [], ["--guard"], ["--no-guard"]]))
        args += draw(
            _opt(
                "--strength",
                st.one_of(st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True)),
            )
        )
        args += draw(st.sampled_from([[], [], ["--json", "@json"]]))  # fmt: skip
        if method in ("net", None):
            args += draw(
                st.sampled_from(
                    [
                        ["--weights", "@tiny"],
                        ["--weights", "@tiny"],
                        [],
                        ["--weights", "@missing"],
                        ["--weights", "@junk"],
                    ]
                )
            )
        return args  # fmt: skip

    @st.composite
    def blur_args(draw: Any) -> list[str]:
        args: list[str] = []
        if draw(st.booleans()):
            args += ["--psf", draw(st.one_of(st.sampled_from(_GOOD_PSFS), psf_specs()))]
        if draw(st.integers(0, 3)) == 0:
            args += draw(st.one_of(
                st.tuples(st.integers(-2, 40), st.integers(-2, 40)).map(
                    lambda t: ["--shake", f"{t[0]},{t[1]}"]),
                _OPTION_TEXT.map(lambda v: ["--shake", v])))  # fmt: skip
        args += draw(
            _opt(
                "--noise",
                st.one_of(st.floats(0, 0.1), st.floats(allow_nan=True, allow_infinity=True)),
            )
        )
        args += draw(_opt("--seed", st.sampled_from([0, 1, 2**64, -1])))
        args += draw(_opt("--per-image", st.integers(-1, 2)))
        args += draw(st.sampled_from([[], ["--overwrite"], ["-r"]]))
        return args


# ------------------------------------------------------------------------------------------
# Properties (shared with benchmarks/fuzz_long.py)
# ------------------------------------------------------------------------------------------


def _listing(root: Path) -> dict[str, str]:
    """Every file under ``root`` (symlinks not followed) with a digest of its bytes."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            try:
                if os.path.islink(path) or not os.path.isfile(path):
                    digest = "special"
                else:
                    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                digest = "unreadable"
            found[os.path.relpath(path, root)] = digest
    return found


class PropertyFailure(AssertionError):
    """A case broke the property; ``key`` names the kind of failure (for de-duplication)."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key}\n{detail}")
        self.key, self.detail = key, detail


def expect_result_or_refusal(resp: dict, what: str) -> str:
    """The worker's answer for one case must be a result or a one-line refusal."""
    status = resp["status"]
    allowed = {"ok", "refused"}
    if status not in allowed:
        key = f"{status} {resp.get('type', '')} at {resp.get('where', '?')}"
        raise PropertyFailure(key, f"{what}: {json.dumps(resp, indent=1)[:4000]}")
    if status == "refused":
        message = resp["message"]
        if not message or "\n" in message or "\r" in message:
            raise PropertyFailure(f"multi-line {resp['type']}", f"{what}: {message!r}")
    return status


def check_read_image(ctx: Context, case: tuple[str, bytes, str], max_pixels: int | None) -> str:
    name, data, ext = case
    with ctx.scratch() as folder:
        path = folder / f"input{ext}"
        path.write_bytes(data)
        resp = ctx.sandbox.call("read_image", path=str(path), max_pixels=max_pixels)
        assert sorted(os.listdir(folder)) == [path.name], "read_image wrote a file"
    return expect_result_or_refusal(resp, f"read_image({name} mutated as {ext})")


def check_psf_spec(ctx: Context, spec: str) -> str:
    resp = ctx.sandbox.call("parse_psf", spec=spec)
    status = expect_result_or_refusal(resp, f"parse_psf({spec[:200]!r})")
    if status == "ok":
        expect_valid_psf(resp, f"parse_psf({spec[:200]!r})")
    return status


def expect_valid_psf(resp: dict, what: str) -> None:
    """A PSF that was returned is float32, at most 1001 a side, >= 0 and sums to 1."""
    info = resp["info"]
    h, w = info["shape"]
    ok = 1 <= h <= 1001 and 1 <= w <= 1001 and info["dtype"] == "float32"
    if not (ok and info["min"] >= 0 and abs(info["sum"] - 1) < 1e-3):
        raise PropertyFailure("invalid PSF returned", f"{what}: {info}")


def check_psf_file(ctx: Context, case: tuple[str, bytes]) -> str:
    ext, data = case
    with ctx.scratch() as folder:
        path = folder / f"kernel{ext}"
        path.write_bytes(data)
        results = [ctx.sandbox.call("load_psf", path=str(path)),
                   ctx.sandbox.call("parse_psf", spec=str(path))]  # fmt: skip
    what = f"load_psf({ext}, {data[:80]!r})"
    statuses = [expect_result_or_refusal(r, what) for r in results]
    if statuses[0] != statuses[1]:  # the spec reads the same file the same way
        raise PropertyFailure("parse_psf(file) differs from load_psf(file)", f"{what}: {results}")
    if statuses[0] == "ok":
        expect_valid_psf(results[0], what)
    return statuses[0]


def _build_tree(root: Path, entries: list[tuple[tuple[str, ...], str]], png: bytes) -> None:
    for parts, kind in entries:
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                continue
            if kind == "image":
                path.write_bytes(png)
            elif kind == "junk":
                path.write_bytes(b"junk" * 3)
            elif kind == "empty":
                path.write_bytes(b"")
            elif kind == "dir":
                path.mkdir()
            elif kind == "loop":
                path.symlink_to(root, target_is_directory=True)
            elif kind == "dangling":
                path.symlink_to(root / "nowhere")
            elif kind == "fifo" and path.suffix != ".txt":
                os.mkfifo(path)
            elif kind == "unreadable":
                path.write_bytes(png)
                path.chmod(0)
        except OSError:
            continue  # a parent is a file, or such: the tree just lacks this entry


def check_datasets(ctx: Context, entries: list, list_text: bytes) -> str:
    statuses = []
    with ctx.scratch() as folder:
        root = folder / "data"
        root.mkdir()
        _build_tree(root, entries, ctx.images["rgb8.png"])
        list_file = root / "pairs.txt"
        list_file.write_bytes(list_text)
        before = _listing(folder)
        calls = [
            ("find_pairs", {"root": str(root)}),
            ("read_pair_list", {"path": str(list_file)}),
            ("read_pair_list", {"path": str(list_file), "root": str(root / "a")}),
            ("list_photos", {"spec": str(root)}),
            ("list_photos", {"spec": str(root / "**" / "*.png")}),
            ("list_photos", {"spec": str(list_file), "data_root": str(root)}),
        ]
        for op, req in calls:
            resp = ctx.sandbox.call(op, **req)
            statuses.append(expect_result_or_refusal(resp, f"{op}({req})"))
        assert _listing(folder) == before, "dataset discovery changed files"
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames + filenames:  # let rmtree remove unreadable entries
                entry = os.path.join(dirpath, name)
                if not os.path.islink(entry):
                    with contextlib.suppress(OSError):
                        os.chmod(entry, 0o755)
    return ",".join(statuses)


def check_weights(ctx: Context, data: bytes) -> str:
    with ctx.scratch() as folder:
        path = folder / "w.safetensors"
        path.write_bytes(data)
        resp = ctx.sandbox.call("load_weights", path=str(path))
    return expect_result_or_refusal(resp, f"load_weights({len(data)} bytes)")


def check_checkpoint(ctx: Context, data: bytes) -> str:
    with ctx.scratch() as folder:
        path = folder / "last.ckpt"
        path.write_bytes(data)
        resp = ctx.sandbox.call("load_checkpoint", path=str(path))
    return expect_result_or_refusal(resp, f"load_checkpoint({len(data)} bytes)")


def _cli_workspace(ctx: Context, folder: Path) -> dict[str, Path]:
    """Inputs for a CLI case, six levels deep so that a path escaping the output folder
    still lands inside the case's folder (and is seen there)."""
    import numpy as np

    base = folder.joinpath("d1", "d2", "d3", "d4", "d5")
    inputs, out = base / "in", base / "out"
    inputs.mkdir(parents=True)
    (inputs / "photo.png").write_bytes(ctx.images["cli.png"])
    psfdir = base / "psfdir"
    psfdir.mkdir()
    kernel = np.ones((3, 3), np.float32) / 9
    np.save(psfdir / "photo.npy", kernel)
    np.save(base / "k.npy", kernel)
    (base / "k.txt").write_text("0 1 0\n1 4 1\n0 1 0\n")
    (base / "tiny.safetensors").write_bytes(ctx.weights)
    (base / "junk.safetensors").write_bytes(b"junk")
    return {"base": base, "inputs": inputs, "out": out, "photo": inputs / "photo.png"}


def _resolve_args(args: list[str], paths: dict[str, Path]) -> list[str]:
    names = {"@psfdir": "psfdir", "@k.npy": "k.npy", "@k.txt": "k.txt",
             "@tiny": "tiny.safetensors", "@missing": "missing.safetensors",
             "@junk": "junk.safetensors"}  # fmt: skip
    out = {"@json": paths["out"] / "report.json"}  # written by --json: inside OUT
    return [str(out[a]) if a in out else str(paths["base"] / names[a]) if a in names else a
            for a in args]  # fmt: skip


def check_cli(ctx: Context, command: str, args: list[str], target: str) -> int:
    """Run ``deblur COMMAND INPUT -o OUT ARGS`` in-process: exit 0, 1 or 2, one ``error:``
    line when it fails, no traceback, nothing written outside OUT, the input unchanged."""
    import cv2
    import torch
    from typer.testing import CliRunner

    from deblur.cli import app

    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    with ctx.scratch() as folder:
        paths = _cli_workspace(ctx, folder)
        out = paths["out"] / "result.png" if target == "file" else paths["out"]
        argv = [command, str(paths["photo"]), "-o", str(out), *_resolve_args(args, paths)]
        before = _listing(folder)
        try:
            result = CliRunner().invoke(app, argv, catch_exceptions=True)
        finally:
            torch.set_num_threads(threads)
            cv2.setNumThreads(cv_threads)
        after = _listing(folder)
    what = f"deblur {' '.join(argv[:1] + argv[4:])!r}"
    err = result.stderr if hasattr(result, "stderr") else result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        what,
        "".join(traceback.format_exception(result.exception))[-3000:],
    )
    assert result.exit_code in (0, 1, 2), (what, result.exit_code, err)
    assert "Traceback" not in result.output and "Traceback" not in err, (what, err)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if result.exit_code == 0:
        assert not errors, (what, err)
    else:
        assert len(errors) == 1, (what, err)
    out_rel = os.path.relpath(paths["out"], folder)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    outside = sorted(k for k in changed if not (k + os.sep).startswith(out_rel + os.sep))
    assert not outside, (what, "wrote outside the output folder", outside)
    return result.exit_code


@dataclasses.dataclass(frozen=True)
class Target:
    """A fuzz target: how to draw a case (given the context) and the property to check."""

    strategy: Callable[[Context], Any]
    check: Callable[[Context, Any], Any]
    examples: int  # in the test suite


if __name__ != "__main__":
    TARGETS: dict[str, Target] = {
        "image_mutated": Target(
            lambda c: mutated_images(c.images),
            lambda c, case: check_read_image(c, case, max_pixels=1 << 20), 120),
        "image_claimed_size": Target(
            lambda c: claimed_sizes(c.images),
            lambda c, case: check_read_image(c, case, max_pixels=None), 60),
        "psf_spec": Target(lambda c: psf_specs(), check_psf_spec, 120),
        "psf_file": Target(lambda c: psf_files(c.images), check_psf_file, 80),
        "datasets": Target(
            lambda c: st.tuples(dataset_trees(c.known_bugs), pair_lists()),
            lambda c, case: check_datasets(c, *case), 25),
        "weights": Target(lambda c: weights_files(c.weights), check_weights, 50),
        "checkpoint": Target(lambda c: checkpoint_files(c.checkpoint), check_checkpoint, 50),
        "cli_restore": Target(
            lambda c: st.tuples(restore_args(), st.sampled_from(["folder", "file"])),
            lambda c, case: check_cli(c, "restore", case[0], case[1]), 30),
        "cli_blur": Target(lambda c: blur_args(), lambda c, a: check_cli(c, "blur", a, "folder"),
                           20),
    }  # fmt: skip


# ------------------------------------------------------------------------------------------
# The tests
# ------------------------------------------------------------------------------------------

if __name__ != "__main__":

    @pytest.fixture(scope="module")
    def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
        context = make_context(tmp_path_factory.mktemp("fuzz"))
        yield context
        context.sandbox.close()

    def _fuzz(name: str) -> Callable:
        target = TARGETS[name]

        @settings(
            max_examples=target.examples,
            derandomize=True,  # a fixed seed per test
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: each case is costly
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def test(ctx: Context, data: Any) -> None:
            target.check(ctx, data.draw(target.strategy(ctx), label=name))

        test.__name__ = f"test_fuzz_{name}"
        return test

    test_fuzz_image_mutated = _fuzz("image_mutated")
    test_fuzz_image_claimed_size = _fuzz("image_claimed_size")
    test_fuzz_psf_spec = _fuzz("psf_spec")
    test_fuzz_psf_file = _fuzz("psf_file")
    test_fuzz_datasets = _fuzz("datasets")
    test_fuzz_weights = _fuzz("weights")
    test_fuzz_checkpoint = _fuzz("checkpoint")
    test_fuzz_cli_restore = _fuzz("cli_restore")
    test_fuzz_cli_blur = _fuzz("cli_blur")

    def test_issue_13_bomb_is_refused_in_bounded_memory(ctx: Context) -> None:
        """The issue's file: a small PNG claiming 14000x14000 RGB (196 MP)."""
        ihdr = struct.pack(">IIBBBBB", 14000, 14000, 8, 2, 0, 0, 0)
        idat = zlib.compress(bytes(14000 * 3 + 1) * 64, 9)
        data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
        data += _chunk(b"IEND", b"")
        with ctx.scratch() as folder:
            path = folder / "bomb.png"
            path.write_bytes(data)
            resp = ctx.sandbox.call("read_image", path=str(path))
        assert resp["status"] == "refused", resp
        assert "too large" in resp["message"] and "DEBLUR_MAX_PIXELS" in resp["message"]
        assert "max_pixels=N" in resp["message"]  # the library names its parameter

    def test_sandbox_catches_what_is_not_a_refusal(ctx: Context) -> None:
        """The worker tells a refusal from any other exception (the fuzz's own check)."""
        bad = ctx.sandbox.call("parse_psf", spec=None)  # not even a string: still refused
        assert bad["status"] == "refused", bad
        broken = ctx.sandbox.call("no such op")
        assert broken["status"] == "bug" and broken["type"] == "KeyError", broken

    # --- Regressions: what the fuzz found in other modules (since fixed there) -----------

    def test_suffix_with_separator_is_refused(ctx: Context) -> None:
        """``--suffix /../../x`` wrote outside the output folder (deblur/batch.py)."""
        code = check_cli(ctx, "restore", ["--method", "wiener", "--psf", "gaussian:1",
                                          "--suffix", "/../../escaped"], "folder")  # fmt: skip
        assert code == 2

    def test_datasets_refuse_with_deblur_error(ctx: Context) -> None:
        """deblur/datasets.py refused with plain ValueError."""
        with ctx.scratch() as folder:
            resp = ctx.sandbox.call("find_pairs", root=str(folder / "missing"))
        assert resp["status"] == "refused", resp

    def test_pair_list_not_utf8_is_refused(ctx: Context) -> None:
        """read_pair_list let UnicodeDecodeError out (deblur/datasets.py)."""
        with ctx.scratch() as folder:
            (folder / "list.txt").write_bytes(b"\xbf\xff a.png b.png\n")
            resp = ctx.sandbox.call("read_pair_list", path=str(folder / "list.txt"))
        assert resp["status"] == "refused", resp

    def test_too_long_name_is_refused(ctx: Context) -> None:
        """Path.is_file() raised OSError 'File name too long' out of find_pairs."""
        with ctx.scratch() as folder:
            resp = ctx.sandbox.call("find_pairs", root=str(folder / ("x" * 300)))
        assert resp["status"] == "refused", resp

    @pytest.mark.parametrize("key,value", [("width", None), ("width", 10**9), ("ird_units", "3")])
    def test_weights_with_bad_config_are_refused(ctx: Context, key: str, value: Any) -> None:
        """load_weights built the network from the metadata's config unchecked
        (deblur/models/weights.py): TypeError, or gigabytes for a huge width."""
        n = struct.unpack("<Q", ctx.weights[:8])[0]
        header = json.loads(ctx.weights[8 : 8 + n])
        config = json.loads(header["__metadata__"]["config"])
        config[key] = value
        header["__metadata__"]["config"] = json.dumps(config)
        raw = json.dumps(header).encode()
        data = struct.pack("<Q", len(raw)) + raw + ctx.weights[8 + n :]
        assert check_weights(ctx, data) == "refused"


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker_main(int(sys.argv[2]))

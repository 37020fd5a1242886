"""Shared test helpers: tiny images made on the fly (never real photos)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny tensors gain nothing from threads, and on a busy machine they stall."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_image(
    h: int = 24, w: int = 32, channels: int = 3, dtype=np.uint8, seed: int = 0
) -> np.ndarray:
    """A smooth random test image (H, W) or (H, W, C), RGB(A) order, of the given dtype."""
    rng = np.random.default_rng(seed)
    x = rng.random((h // 4 + 2, w // 4 + 2, channels)).astype(np.float32)
    x = cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)
    x = np.clip(x, 0, 1)
    scale = {np.uint8: 255, np.uint16: 65535}.get(dtype)
    out = x if scale is None else np.round(x * scale).astype(dtype)
    return out[:, :, 0] if channels == 1 else out


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an RGB(A)/gray uint8/uint16 array as an image file (OpenCV, BGR(A) on disk)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = image
    if image.ndim == 3 and image.shape[2] == 3:
        data = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        data = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), data), path
    return path


def read_raw(path: Path) -> np.ndarray:
    """Read an image file as stored (dtype and channel count kept), RGB(A) order."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert data is not None, path
    if data.ndim == 3 and data.shape[2] == 3:
        data = cv2.cvtColor(data, cv2.COLOR_BGR2RGB)
    elif data.ndim == 3 and data.shape[2] == 4:
        data = cv2.cvtColor(data, cv2.COLOR_BGRA2RGBA)
    return data


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -m deblur ARGS`` in a real subprocess (the repository on PYTHONPATH)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run(
        [sys.executable, "-m", "deblur", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def image_file(tmp_path: Path):
    """Factory: ``image_file("in/a.png", channels=3, dtype=np.uint8, seed=0) -> Path``."""

    def make(rel: str, channels: int = 3, dtype=np.uint8, seed: int = 0, h=24, w=32) -> Path:
        return write_png(tmp_path / rel, make_image(h, w, channels, dtype, seed))

    return make


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A randomly initialised small network saved as a weights file."""
    import deblur.models as models

    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    return models.save_weights(models.build_model("small"), path)

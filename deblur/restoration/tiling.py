"""Running the network on images of any size: padding, gray/colour, tiling with blending.

Tiles start at multiples of the network's padding multiple, so every tile sees the same
pyramid grid as the whole image, and overlapping tiles are blended with weights that are
zero within ``overlap / 4`` of an inner tile edge and ramp to one over the next
``overlap / 2``. Where the overlap covers the network's receptive field, the tiled output
equals the untiled one.
"""

from __future__ import annotations

import torch

from deblur.models import MultiScaleNet

__all__ = ["AUTO_TILE_PIXELS", "DEFAULT_TILE", "run_network", "tile_starts"]

#: Images with more pixels than this are tiled by default (bounds memory).
AUTO_TILE_PIXELS = 2_500_000
DEFAULT_TILE = 1024


def tile_starts(size: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``size``, all multiples of ``multiple``.

    Consecutive tiles overlap by at least ``overlap``; the last tile may be shorter (it ends
    at the image border).
    """
    if tile >= size:
        return [0]
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    starts = list(range(0, size - tile + stride, stride))
    return [s for s in starts if s < size]


def _ramp(n: int, start: int, end: int, size: int, overlap: int) -> torch.Tensor:
    """1-D blending weights of a tile covering ``[start, end)`` of ``size``."""
    pos = torch.arange(n, dtype=torch.float32)
    margin, width = overlap // 4, max(1, overlap // 2)
    w = torch.ones(n)
    if start > 0:
        w = torch.minimum(w, ((pos - margin + 1) / width).clamp(0, 1))
    if end < size:
        w = torch.minimum(w, ((n - pos - margin) / width).clamp(0, 1))
    return w


@torch.inference_mode()
def run_network(
    model: MultiScaleNet,
    x: torch.Tensor,
    *,
    tile: int | None = None,
    overlap: int = 128,
) -> torch.Tensor:
    """Deblur images with the network.

    Parameters
    ----------
    model : MultiScaleNet
        The network (its device is used; fp32).
    x : float tensor ``(B, C, H, W)`` in [0, 1], ``C`` = 1 (gray, run as RGB) or the
        model's channel count. Any ``H, W`` (padded internally and cropped back).
    tile : int, optional
        Tile side in pixels; None tiles automatically (``DEFAULT_TILE``) only above
        ``AUTO_TILE_PIXELS`` pixels; 0 never tiles.
    overlap : int
        Overlap between tiles in pixels (the blend margin is ``overlap / 4``).

    Returns
    -------
    float32 tensor ``(B, C, H, W)`` in [0, 1] on ``x``'s device.
    """
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got shape {tuple(x.shape)}")
    c = model.cfg.channels
    if x.shape[1] not in (1, c):
        raise ValueError(f"expected 1 or {c} channels (B, C, H, W), got {x.shape[1]}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    gray = x.shape[1] == 1 and c != 1
    device = next(model.parameters()).device
    inp = x.to(device, torch.float32)
    if gray:
        inp = inp.expand(-1, c, -1, -1)
    h, w = inp.shape[-2:]
    if tile is None:
        tile = DEFAULT_TILE if h * w > AUTO_TILE_PIXELS else 0
    m = model.cfg.multiple
    if tile and tile < max(2 * m, overlap + m):
        raise ValueError(f"tile {tile} is too small for overlap {overlap} (need > overlap + {m})")
    model.eval()
    if not tile or (tile >= h and tile >= w):
        out = model(inp)
    else:
        # the global blur descriptor (if the model has one) comes from the whole image
        ctx = model.context(inp)
        out = torch.zeros(inp.shape, dtype=torch.float32)
        weight = torch.zeros((1, 1, h, w), dtype=torch.float32)
        for y0 in tile_starts(h, tile, overlap, m):
            y1 = min(y0 + tile, h)
            wy = _ramp(y1 - y0, y0, y1, h, overlap)
            for x0 in tile_starts(w, tile, overlap, m):
                x1 = min(x0 + tile, w)
                wx = _ramp(x1 - x0, x0, x1, w, overlap)
                wgt = wy[:, None] * wx[None, :]
                pred = model(inp[..., y0:y1, x0:x1], context=ctx).float().cpu()
                out[..., y0:y1, x0:x1] += pred * wgt
                weight[..., y0:y1, x0:x1] += wgt
        out = out / weight.clamp_min(1e-8)
    out = out.clamp(0, 1)
    if gray:
        out = out.mean(dim=1, keepdim=True)
    return out.to(x.device, torch.float32)

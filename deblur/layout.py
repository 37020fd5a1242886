"""Layout conversion: user images (numpy ``(H, W[, C])`` or tensors) to and from the
library's float32 ``(B, C, H, W)`` tensors in [0, 1]. No image codecs are imported here."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def _to_unit_float(array: np.ndarray, what: str) -> np.ndarray:
    """uint8/uint16 -> float in [0, 1]; float -> float. Other dtypes raise TypeError."""
    if array.dtype == np.bool_:
        raise TypeError(f"{what}: boolean arrays are not images (use float in [0, 1])")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if array.dtype == np.uint16:
        return array.astype(np.float32) / np.float32(65535.0)
    if np.issubdtype(array.dtype, np.floating):
        return array
    raise TypeError(
        f"{what}: unsupported dtype {array.dtype} (expected float in [0, 1], uint8 or uint16)"
    )


_EXPECTED = "expected an image of shape (H, W), (H, W, C) or a tensor (B, C, H, W)"


def as_bchw(
    image: np.ndarray | torch.Tensor,
) -> tuple[torch.Tensor, Callable[[torch.Tensor], object]]:
    """Convert an image to a float32 ``(B, C, H, W)`` tensor, with a function to convert back.

    Parameters
    ----------
    image : np.ndarray or torch.Tensor
        A numpy array ``(H, W)`` or ``(H, W, C)`` with ``1 <= C <= 4`` (channels last): float
        in [0, 1] (any float dtype), or uint8 / uint16 (scaled to [0, 1]). Or a torch tensor
        ``(B, C, H, W)`` (tensors must be 4-D): float, uint8 or uint16 (scaled). Boolean and
        other integer dtypes are refused.

    Returns
    -------
    tensor : torch.Tensor
        float32, contiguous, shape ``(B, C, H, W)``; values in [0, 1] for valid input. A numpy
        input gives ``B = 1`` on the CPU and is always copied (never shares memory with
        ``image``). A float32 contiguous tensor is returned as is (no copy); other tensors are
        converted on their device.
    to_input_kind : callable
        Takes a ``(B, C, H, W)`` result (tensor, or numpy array) and returns it in the kind of
        ``image``: for a numpy ``(H, W)`` input, a float32 ``(H, W)`` array (needs
        ``B = C = 1``); for ``(H, W, C)``, a float32 ``(H, W, C')`` array (needs ``B = 1``); for
        a tensor, a float32 tensor on ``image``'s device. ``H``, ``W`` and ``C`` of the result
        may differ from the input's.

    Raises
    ------
    ValueError
        Wrong shape; the message names the expected shapes and the shape given.
    TypeError
        Not a numpy array or tensor, or an unsupported dtype.
    """
    if isinstance(image, torch.Tensor):
        if image.ndim != 4:
            raise ValueError(
                f"{_EXPECTED}, got shape {tuple(image.shape)} (a tensor must be 4-D (B, C, H, W))"
            )
        if 0 in image.shape:
            raise ValueError(f"{_EXPECTED}, got an empty shape {tuple(image.shape)}")
        if image.dtype == torch.bool:
            raise TypeError("boolean tensors are not images (use float in [0, 1])")
        if image.dtype == torch.uint8:
            tensor = image.to(torch.float32) / 255.0
        elif image.dtype == torch.uint16:
            tensor = image.to(torch.float32) / 65535.0
        elif image.dtype.is_floating_point:
            tensor = image.to(torch.float32)
        else:
            raise TypeError(
                f"unsupported tensor dtype {image.dtype} "
                "(expected float in [0, 1], uint8 or uint16)"
            )
        device = image.device

        def to_tensor(result: torch.Tensor) -> torch.Tensor:
            result = torch.as_tensor(result)
            if result.ndim != 4:
                raise ValueError(
                    f"expected a result of shape (B, C, H, W), got {tuple(result.shape)}"
                )
            return result.to(device=device, dtype=torch.float32)

        return tensor.contiguous(), to_tensor

    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy array or a torch tensor, got {type(image).__name__}")
    shape = image.shape
    if image.ndim not in (2, 3) or (image.ndim == 3 and not 1 <= shape[2] <= 4):
        hint = " (numpy images are channels-last with 1 to 4 channels)" if image.ndim == 3 else ""
        raise ValueError(f"{_EXPECTED}, got shape {shape}{hint}")
    if 0 in shape:
        raise ValueError(f"{_EXPECTED}, got an empty shape {shape}")
    unit = _to_unit_float(image, "image")
    hwc = unit if unit.ndim == 3 else unit[:, :, None]
    chw = np.array(hwc.transpose(2, 0, 1), dtype=np.float32, order="C", copy=True)
    tensor = torch.from_numpy(chw)[None]
    gray_2d = image.ndim == 2

    def to_numpy(result: torch.Tensor) -> np.ndarray:
        result = torch.as_tensor(result)
        if result.ndim != 4 or result.shape[0] != 1 or (gray_2d and result.shape[1] != 1):
            want = "(1, 1, H, W)" if gray_2d else "(1, C, H, W)"
            raise ValueError(
                f"expected a result of shape {want} for a {len(shape)}-D numpy image, "
                f"got {tuple(result.shape)}"
            )
        array = result.detach().to(device="cpu", dtype=torch.float32).numpy()[0]
        array = array[0] if gray_2d else array.transpose(1, 2, 0)
        return np.array(array, dtype=np.float32, order="C", copy=True)

    return tensor, to_numpy

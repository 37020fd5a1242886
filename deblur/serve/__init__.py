"""``deblur serve``: a local web page to restore photos (the ``deblur[web]`` extra).

Drop photos on the page, choose the method and strength, compare before and after with a
slider, read the result check's note and download the result. Restores run one at a time
in a worker thread (:mod:`deblur.serve.jobs`) through the same library call as
``deblur restore`` (:func:`deblur.batch.restore_files`); uploads are refused by size before
anything is decoded, and every file lives in one temporary folder, removed on exit.
The app (:func:`deblur.serve.app.create_app`) needs FastAPI; uvicorn runs it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # imported on use: FastAPI is an optional extra
        from deblur.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'deblur.serve' has no attribute {name!r}")

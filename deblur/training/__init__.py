"""Training of the multiscale network.

* :mod:`~deblur.training.config`: :class:`TrainConfig`, the one description of a run,
  with its file, its merge with command-line options and its checks
  (:mod:`~deblur.training.fields`: the schema kept in the fields);
* :mod:`~deblur.training.data`: the sample stream (a pure function of ``(seed, index)``)
  and the fixed validation set;
* :mod:`~deblur.training.optim`: loss, learning-rate schedule, EMA, validation metric;
* :mod:`~deblur.training.checkpoint`: safe checkpoints, resume, ``--init``, conversion;
* :mod:`~deblur.training.run`: :class:`Run`, one run (set up, step, validate, checkpoint);
* :mod:`~deblur.training.loop`: :func:`train`, which drives a run;
* :mod:`~deblur.training.export`: checkpoint -> weights file + model card.
"""

_HOME = {
    "TrainError": "deblur.errors",
    "convert_checkpoint": "deblur.training.checkpoint",
    "load_checkpoint": "deblur.training.checkpoint",
    "TrainConfig": "deblur.training.config",
    "read_config_file": "deblur.training.config",
    "merge_settings": "deblur.training.config",
    "Run": "deblur.training.run",
    "TrainStream": "deblur.training.data",
    "make_val_set": "deblur.training.data",
    "export_checkpoint": "deblur.training.export",
    "train": "deblur.training.loop",
    "EMA": "deblur.training.optim",
    "lr_factor": "deblur.training.optim",
    "multiscale_loss": "deblur.training.optim",
}

__all__ = [
    "EMA",
    "Run",
    "TrainConfig",
    "TrainError",
    "TrainStream",
    "convert_checkpoint",
    "export_checkpoint",
    "load_checkpoint",
    "lr_factor",
    "make_val_set",
    "merge_settings",
    "multiscale_loss",
    "read_config_file",
    "train",
]


def __getattr__(name: str):
    """Names load their module on first use (``deblur train --help`` stays fast)."""
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Training of the multiscale network.

* :mod:`~deblur.training.config`: :class:`TrainConfig`, the one description of a run;
* :mod:`~deblur.training.data`: the sample stream (a pure function of ``(seed, index)``)
  and the fixed validation set;
* :mod:`~deblur.training.optim`: loss, learning-rate schedule, EMA, validation metric;
* :mod:`~deblur.training.checkpoint`: safe checkpoints, resume, ``--init``, conversion;
* :mod:`~deblur.training.loop`: :func:`train`;
* :mod:`~deblur.training.export`: checkpoint -> weights file + model card.
"""

from deblur.errors import TrainError
from deblur.training.checkpoint import convert_checkpoint, load_checkpoint
from deblur.training.config import TrainConfig, read_config_file
from deblur.training.data import TrainStream, make_val_set
from deblur.training.export import export_checkpoint
from deblur.training.loop import train
from deblur.training.optim import EMA, lr_factor, multiscale_loss

__all__ = [
    "EMA",
    "TrainConfig",
    "TrainError",
    "TrainStream",
    "convert_checkpoint",
    "export_checkpoint",
    "load_checkpoint",
    "lr_factor",
    "make_val_set",
    "multiscale_loss",
    "read_config_file",
    "train",
]

"""The ``deblur`` command line: thin commands over the library.

Heavy imports (torch, OpenCV, the network) happen inside the commands so that ``deblur
--help`` stays fast. Every command reports bad input as one line ``error: ...`` on stderr
and exits with status 1 (a file failed) or 2 (bad usage).
"""

from deblur.cli import exporting, images, scoring, serve, training  # noqa: F401  (registers the commands)
from deblur.cli._common import app

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line (``python -m deblur`` and the ``deblur`` script)."""
    app(prog_name="deblur")

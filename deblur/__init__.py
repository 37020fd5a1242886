"""deblur: remove blur from photographs."""

__version__ = "0.1.0"

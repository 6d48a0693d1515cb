"""rnnrec: sequential recommendation with recurrent neural networks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnnrec")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]

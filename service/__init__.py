"""The ways users reach the solver: the REST API and the `schedopt` command."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("schedopt")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

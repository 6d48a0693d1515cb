"""Exceptions users see. Each names the file/field and what was expected."""


class RnnrecError(Exception):
    """Base class of every error rnnrec raises on purpose."""


class DataFormatError(RnnrecError, ValueError):
    """An input file or table does not have the expected layout or values."""


class ConfigError(RnnrecError, ValueError):
    """A configuration option is unknown or has an invalid value."""


class UnknownIdError(RnnrecError, KeyError):
    """An external user or item ID is not in the model's ID map."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TrainingError(RnnrecError, RuntimeError):
    """Training cannot go on (for example the loss became NaN)."""


class DownloadError(RnnrecError):
    """A dataset could not be fetched or verified (network error, HTTP error, checksum mismatch)."""


def require_at_least(section: str, options: object, names: tuple[str, ...], minimum: int) -> None:
    """Config check shared by every section: each option in ``names`` is an integer >= ``minimum``."""
    for name in names:
        if int(getattr(options, name)) < minimum:
            raise ConfigError(f"{section}.{name} must be >= {minimum}, got {getattr(options, name)!r}")


def require_fraction(section: str, options: object, names: tuple[str, ...]) -> None:
    """Config check for rates such as dropout: each option in ``names`` lies in [0, 1)."""
    for name in names:
        if not 0.0 <= float(getattr(options, name)) < 1.0:
            raise ConfigError(f"{section}.{name} must be in [0, 1), got {getattr(options, name)!r}")

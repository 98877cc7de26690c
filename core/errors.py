"""Errors that reach the user as a one-line message, never as a traceback."""


class LunggateError(ValueError):
    """A problem with the user's input or files, phrased so the user can fix it."""


class DatasetError(LunggateError):
    """The dataset folder does not have the expected layout or contents."""


class ModelFileError(LunggateError):
    """A weights file or its config is missing, corrupt or for another model."""

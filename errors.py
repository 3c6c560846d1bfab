"""User-facing errors: each message names the file or flag at fault and the fix.

The drivers catch :class:`UserError`, print its message on one line and exit
non-zero; anything else is a bug and keeps its traceback. This module imports
nothing heavy, so drivers can name these classes before TensorFlow loads.
"""


class UserError(Exception):
    """A mistake the user can fix (missing folder, wrong size, incompatible checkpoint)."""


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable or does not fit."""


class TrainingError(UserError):
    """Training cannot start or continue (no data, diverged, mismatched checkpoint)."""


class CompletionError(UserError):
    """Completion cannot run on the given images, mask or output folder."""


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT or SIGTERM after saving a checkpoint; not a failure.

    ``exit_code`` is the shell's convention for a process ended by that signal
    (130 for Ctrl-C, 143 for SIGTERM), so scripts can tell it from success.
    """

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_code = 128 + signal_number

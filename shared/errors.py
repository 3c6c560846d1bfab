"""User-facing errors: each message names the file or flag at fault and the fix.

The drivers catch :class:`UserError`, print its message on one line and exit
non-zero; anything else is a bug and keeps its traceback. A failed write inside
:func:`writing` becomes an :class:`IOFailure` naming what was being written, which
the caller turns into its user's message (training saves a checkpoint first). This
module imports nothing heavy, so drivers can name these classes before TensorFlow loads.
"""
import contextlib
import signal
import threading


class UserError(Exception):
    """A mistake the user can fix (missing folder, wrong size, incompatible checkpoint)."""


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable or does not fit."""


class TrainingError(UserError):
    """Training cannot start or continue (no data, diverged, mismatched checkpoint)."""


class CompletionError(UserError):
    """Completion cannot run on the given images, mask or output folder."""


class IOFailure(Exception):
    """Writing ``what`` (an output folder, ``checkpoint``, ``logs``, ...) or reading failed;
    ``reason`` is the system's one-line reason. Its catcher turns it into a UserError."""

    def __init__(self, what: str, error: Exception):
        super().__init__(what)
        self.what = what
        self.reason = (getattr(error, "strerror", None)
                       or (str(error).splitlines() or [type(error).__name__])[0])


@contextlib.contextmanager
def writing(what: str, kinds: tuple = (OSError,)):
    """Raise an error of ``kinds`` (a full disk, a permission) raised inside as an
    :class:`IOFailure` naming ``what`` (training adds TensorFlow's I/O errors)."""
    try:
        yield
    except kinds as error:
        raise IOFailure(what, error) from error


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT or SIGTERM after saving a checkpoint; not a failure.

    ``exit_code`` is the shell's convention for a process ended by that signal
    (130 for Ctrl-C, 143 for SIGTERM), so scripts can tell it from success.
    """

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_code = 128 + signal_number


class CompletionInterrupted(Exception):
    """Completion stopped on SIGINT or SIGTERM after writing the batch in flight; the
    message says how to resume. ``exit_code`` as :class:`TrainingInterrupted`'s."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_code = 128 + signal_number


class StopSignals:
    """Within ``with``: SIGINT and SIGTERM set ``self.signal`` instead of killing the process.

    The loop checks it after every step, saves a checkpoint and stops. A second
    signal stops at once (``KeyboardInterrupt``); the checkpoints already on
    disk stay loadable, as after any kill. Outside the main thread (where
    Python cannot install handlers) signals keep their default behaviour.
    """

    def __init__(self):
        self.signal: int | None = None
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number, frame):
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = number  # no printing here: the main thread may be inside print()

    def __exit__(self, *exc_info):
        for number, handler in self.previous.items():
            signal.signal(number, handler)

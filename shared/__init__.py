"""What the drivers and the packages share: every shared default, written once
(``defaults.py``), user-facing errors (``errors.py``), the compute precision
(``precision.py``), and the command lines' helpers: validated flag types (``flags.py``)
and a quiet start-up (``quiet.py``). Library code reads ``defaults.py``, never
``flags.py``. Nothing is imported here and nothing here loads TensorFlow at import."""

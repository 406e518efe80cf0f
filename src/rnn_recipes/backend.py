"""Import TensorFlow and Keras once, without their start-up chatter.

TensorFlow's C++ runtime writes informational lines (oneDNN, missing CUDA
drivers) straight to file descriptor 2 before any logging setting applies.
`import_keras` captures that descriptor while importing and passes on only
the lines that are not known noise, so real warnings and errors still show.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

_NOISE = re.compile(
    r"^(I0000 |WARNING: All log messages before absl|.*cudart_stub|.*cuda_(blas|dnn|fft)|"
    r".*oneDNN custom operations|.*TF-TRT Warning|.*computation placer already registered|"
    r".*Unable to register cu|.*failed call to cuInit|.*This TensorFlow binary is optimized)"
)


def import_keras():
    """Import and return `keras` (TensorFlow backend unless KERAS_BACKEND says otherwise)."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # ERROR lines here are oneDNN fallbacks, not failures
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401  (the import is the point)

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.list_physical_devices("GPU")  # CUDA's probe complains here, not later
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not _NOISE.match(line):
                    print(line, file=sys.stderr)
    return keras

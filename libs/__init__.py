"""The `libs` package of the Session 5 "Generative Models" companion.

Importing it (any `from libs import ...`) sets TensorFlow's C++ log level to 2, errors only,
unless TF_CPP_MIN_LOG_LEVEL is set already: this runs before any module here imports TensorFlow.
TensorFlow 2.21 still prints a few lines at import and on the first operation whatever the
level; `libs.nb_utils` filters them out of notebook cells.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

"""The ``winnow`` command. Each group lives in a module named after it."""

"""The ``recloop`` command line: one module per stage, registered in ``main``."""

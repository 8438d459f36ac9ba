"""How results are shown: figure building blocks, HTML tables and the paired statistics of
a comparison.  Beside ``physics``: imports only ``data``."""

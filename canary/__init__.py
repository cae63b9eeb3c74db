"""canary: honeytoken patient records for hospitals.

Data flows through the package in the order of its sub-packages:
generate -> store -> plant -> watch (sweep, tripwire, accesslog) -> alert, with web as the console.
"""

import os

# sqlite-utils imports NumPy when it happens to be installed, and OpenBLAS then starts a thread per core
# that spins for a while, taking CPU from sweeps and listeners. canary does no linear algebra.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

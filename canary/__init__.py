"""canary: honeytoken patient records for hospitals.

Data flows through the package in the order of its sub-packages:
generate -> store -> plant -> watch (sweep, tripwire, accesslog) -> alert, with web as the console.
"""

__version__ = "0.1.0"

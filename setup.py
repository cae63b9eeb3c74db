"""Build of the optional native sweep core; everything else is declared in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        # Optional: without the Hyperscan headers (Debian: libhyperscan-dev) the build goes on and
        # sweeps use the pure-Python path (same findings, slower).
        Extension("canary.watch.sweep._native", ["canary/watch/sweep/_native.c"], libraries=["hs"],
                  extra_compile_args=["-O2", "-Wall", "-Wextra"], optional=True),
    ],
)

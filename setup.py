"""Build steps pyproject.toml cannot declare: the optional native sweep core and the packaged seeds."""

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py


class BuildWithSeeds(build_py):
    """Copy the reference tables of seeds/ into the built package (canary/_seeds), so an installed
    wheel can generate canaries; a checkout or an editable install reads seeds/ directly."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "canary" / "_seeds"
        shutil.copytree("seeds", target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("build", "__pycache__", "*.py"))


setup(
    cmdclass={"build_py": BuildWithSeeds},
    ext_modules=[
        # Optional: without the Hyperscan headers (Debian: libhyperscan-dev) the build goes on and
        # sweeps use the pure-Python path (same findings, slower).
        Extension("canary.watch.sweep._native", ["canary/watch/sweep/_native.c"], libraries=["hs"],
                  extra_compile_args=["-O2", "-Wall", "-Wextra"], optional=True),
    ],
)

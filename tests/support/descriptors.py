"""Running this process out of file descriptors for a while (EMFILE on the next socket/accept/open),
the way a flood does to a service whose ``LimitNOFILE`` is reached."""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator


class Exhausted:
    def __init__(self, fillers: list[int]) -> None:
        self.fillers = fillers

    def free(self, count: int = 1) -> None:
        """Hand ``count`` descriptors back (for the socket the test itself needs)."""
        for _ in range(count):
            os.close(self.fillers.pop())


@contextlib.contextmanager
def out_of_descriptors(room: int = 16) -> Iterator[Exhausted]:
    """Lower the soft limit to ``room`` above the highest descriptor open now, then take every free
    one; everything is given back on exit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(name) for name in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, highest + 1 + room), hard))
    fillers: list[int] = []
    try:
        while True:
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        yield Exhausted(fillers)
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def room_for(count: int) -> Iterator[None]:
    """At least ``count`` descriptors for this process (a flood test holds both ends of its connections):
    the soft limit raised toward the hard one for the test, then put back. Fails, saying why, when the
    hard limit is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256  # the registry, the listeners, pytest
    if soft >= wanted:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        raise AssertionError(f"this test needs {wanted} descriptors; the hard limit is {hard} (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

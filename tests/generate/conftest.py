"""Fixtures for the generator tests: the real seed tables, an operator pool, generated batches."""

from __future__ import annotations

from typing import Any

import pytest

from canary.generate.patient import PatientGenerator, Pools
from canary.generate.reference import Reference
from tests.support.generate import generate_batch, owned_pool


@pytest.fixture(scope="session")
def reference() -> Reference:
    return Reference.load()


@pytest.fixture(scope="session")
def pools() -> Pools:
    return owned_pool()


@pytest.fixture(scope="session")
def generator(reference: Reference, pools: Pools) -> PatientGenerator:
    return PatientGenerator(reference, pools)


@pytest.fixture(scope="session")
def batch(generator: PatientGenerator) -> list[dict[str, Any]]:
    return generate_batch(generator, 2000, seed=11)

"""Fixtures of the node agent tests: one agent per module (start-up costs ~1 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import NodeAgent


@pytest.fixture(scope="module")
def agent(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeAgent]:
    running = NodeAgent(nats_url, tmp_path_factory.mktemp("agent")).start()
    try:
        yield running
    finally:
        running.stop()

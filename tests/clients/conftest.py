"""One real gateway per module, on SQLite: the clients' view does not depend on the catalog's backend."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.interop.conftest import Gateway, fixture_rows, seeded


@pytest.fixture(scope="module")
def city_rows() -> list[dict[str, str]]:
    return fixture_rows()


@pytest.fixture(scope="module")
def gateway(city_rows: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = seeded("sqlite", tmp_path_factory.mktemp("gw"), city_rows).start()
    yield gw
    gw.stop()

"""Fixtures of the schema-conformance suite: the compiled official schemas, once per session."""
from __future__ import annotations

import pytest
import xmlschema

from tests.conformance.schemas import onvif_schema


@pytest.fixture(scope="session")
def onvif_schemas() -> xmlschema.XMLSchema11:
    """The official schema set (about 2-3 s to compile, paid once per test session)."""
    return onvif_schema()

# The interop suite's real gateway processes, shared here module by module.
from tests.interop.conftest import backend, city_rows, gateway  # noqa: E402,F401  (fixtures, re-exported)

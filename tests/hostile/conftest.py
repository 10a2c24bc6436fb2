"""The hostile suite runs against the same real gateway processes as the interop suite."""
from tests.interop.conftest import backend, city_rows, fresh_gateway, gateway  # noqa: F401

"""distance without underflow: gw_distance_m flushes magnitudes below 1e-100 to 0, as geodesy.haversine_m does

Revision ID: 3d5e8a1f0b27
Revises: 6c03a78ed9da
Create Date: 2026-11-21 09:30:00

PostgreSQL raises "value out of range: underflow" where a float8 operation
rounds a non-zero result to 0 (``radians(1e-322)``, ``power(2e-196, 2)``),
so one resource stored with a latitude of 1e-200 made every location query
that reached it fail.  Coordinates and half-angle sines below TINY now count
as 0 on both sides; past TINY no operation of the formula can underflow.
Additive: CREATE OR REPLACE keeps the function's signature, and the
SQLite side is the Python function itself.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "3d5e8a1f0b27"
down_revision: str | Sequence[str] | None = "6c03a78ed9da"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: geodesy.EARTH_RADIUS_M and geodesy.TINY, frozen here as migrations must be; a test holds them equal.
EARTH_RADIUS_M = 6_371_008.8
TINY = 1e-100

FLUSH = f"""CREATE FUNCTION gw_flush(x float8) RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
      SELECT CASE WHEN abs(x) < {TINY!r}::float8 THEN 0.0::float8 ELSE x END
    $$"""

DISTANCE = f"""CREATE OR REPLACE FUNCTION gw_distance_m(lat1 float8, lon1 float8, lat2 float8, lon2 float8)
    RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
      SELECT (2.0::float8 * {EARTH_RADIUS_M!r}::float8) * asin(least(1.0::float8, sqrt(
        power(gw_flush(sin((radians(gw_flush(lat2)) - radians(gw_flush(lat1))) / 2.0::float8)), 2.0::float8)
        + cos(radians(gw_flush(lat1))) * cos(radians(gw_flush(lat2)))
          * power(gw_flush(sin(radians(gw_flush(lon2) - gw_flush(lon1)) / 2.0::float8)), 2.0::float8))))
    $$"""

#: The function of revision 902e76286c4c, for the downgrade.
PREVIOUS = f"""CREATE OR REPLACE FUNCTION gw_distance_m(lat1 float8, lon1 float8, lat2 float8, lon2 float8)
    RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
      SELECT (2.0::float8 * {EARTH_RADIUS_M!r}::float8) * asin(least(1.0::float8, sqrt(
        power(sin((radians(lat2) - radians(lat1)) / 2.0::float8), 2.0::float8)
        + cos(radians(lat1)) * cos(radians(lat2))
          * power(sin(radians(lon2 - lon1) / 2.0::float8), 2.0::float8))))
    $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FLUSH)
        op.execute(DISTANCE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PREVIOUS)
        op.execute("DROP FUNCTION gw_flush(float8)")

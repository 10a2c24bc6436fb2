"""Gateway users: name, ONVIF user level and the password WS-UsernameToken is checked against."""
from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.catalog.errors import CatalogError, DuplicateUser
from gateway.catalog.model import User
from gateway.catalog.schema import app_user

#: ONVIF user levels (docs/wire-format.md §8.2), most privileged first.
USER_LEVELS = ("Administrator", "Operator", "User")
#: The ``app_user.name`` column width.
MAX_NAME = 64


def add_user(engine: Engine, name: str, level: str, password: str, *, replace: bool = False) -> None:
    """Create ``name``; with ``replace``, overwrite its level and password if it exists."""
    if not 0 < len(name) <= MAX_NAME:
        raise CatalogError(f"user name must be 1 to {MAX_NAME} characters, not {len(name)}")
    if level not in USER_LEVELS:
        raise CatalogError(f"user level {level!r} is not one of {', '.join(USER_LEVELS)}")
    if not password:
        raise CatalogError(f"user {name!r} needs a non-empty password")
    try:
        with engine.begin() as conn:
            changes = update(app_user).where(app_user.c.name == name).values(level=level, password=password)
            if replace and conn.execute(changes).rowcount:
                return
            conn.execute(insert(app_user).values(name=name, level=level, password=password))
    except IntegrityError:  # the primary key: a user of that name exists
        raise DuplicateUser(f"user {name!r} exists; replace it explicitly") from None


def get_user(engine: Engine, name: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(app_user).where(app_user.c.name == name)).first()
    return User(name=row.name, level=row.level, password=row.password) if row is not None else None


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(select(app_user).order_by(app_user.c.name)).all()
    return [User(name=row.name, level=row.level, password=row.password) for row in rows]


def delete_user(engine: Engine, name: str) -> bool:
    with engine.begin() as conn:
        return conn.execute(delete(app_user).where(app_user.c.name == name)).rowcount > 0

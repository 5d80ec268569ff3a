"""Who the service connects as: a login role acting as entente_app, never the owner.

`entente migrate` runs as the owner (DATABASE_URL). Everything else connects with the
serving URL: ENTENTE_APP_DATABASE_URL when given, else the owner URL with its user swapped
for APP_LOGIN_ROLE. When the owner may create roles (the embedded server under `make run`,
the tests), `provision_login_role` makes that login role: a plain member of entente_app
whose sessions start as entente_app (ALTER ROLE ... SET role), so that everything the
service creates (rebuilt tables, snapshot schemas) belongs to entente_app, whichever
login made it. A session cannot raise itself back: RESET ROLE returns to entente_app,
SET ROLE only to the login role, and neither has more than entente_app's privileges.

`check_serving_role` refuses a serving URL whose user is a superuser or may replicate or
bypass row security, unless ALLOW_PRIVILEGED_ENV is "1".
"""

from __future__ import annotations

import asyncio
import os
import re
from urllib.parse import quote, unquote, urlsplit

import asyncpg

from store.database import asyncpg_dsn

APP_ROLE = "entente_app"
APP_LOGIN_ROLE = "entente_service"
APP_URL_ENV = "ENTENTE_APP_DATABASE_URL"
ALLOW_PRIVILEGED_ENV = "ENTENTE_ALLOW_PRIVILEGED_ROLE"

_CONCURRENT = {"42710", "23505", "40001", "40P01", "XX000"}
"""duplicate_object, unique_violation, serialization, deadlock, 'tuple concurrently
updated': another process provisioning the same cluster-wide role at the same moment."""


class ServingRoleRefused(Exception):
    """The serving URL is unusable: a role that could rewrite the log, or none at all."""


def with_user(url: str, user: str, password: str | None = None) -> str:
    """The same server and database, reached as another user (and password, if given)."""
    match = re.match(r"^(?P<scheme>[^:]+://)(?:(?P<auth>[^@/]*)@)?(?P<rest>.*)$", url)
    if match is None:
        raise ValueError("not a PostgreSQL URL")
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    return f"{match['scheme']}{auth}@{match['rest']}"


def _password(url: str) -> str | None:
    password = urlsplit(asyncpg_dsn(url)).password
    return unquote(password) if password else None


def _user(url: str) -> str | None:
    user = urlsplit(asyncpg_dsn(url)).username
    return unquote(user) if user else None


def derived_app_url(owner_url: str) -> str:
    """The owner URL with APP_LOGIN_ROLE as its user (the owner's password, if any)."""
    return with_user(owner_url, APP_LOGIN_ROLE, _password(owner_url))


def app_url(owner_url: str, explicit: str | None = None) -> str:
    """The serving URL: `explicit`, else ENTENTE_APP_DATABASE_URL, else derived."""
    return explicit or os.environ.get(APP_URL_ENV) or derived_app_url(owner_url)


async def provision_login_role(owner_url: str, serving_url: str) -> bool:
    """Make the serving URL's user a login member of entente_app, when the owner may.

    Idempotent and safe to run from several processes at once (roles are cluster-wide):
    a duplicate made by a concurrent run counts as done. Returns False when the owner may
    not create roles (then the role must already exist; see docs/OPERATIONS.md).
    """
    login = _user(serving_url)
    if not login or login == _user(owner_url):
        raise ServingRoleRefused("the serving URL must name a login role other than the owner")
    connection = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        if not await connection.fetchval(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ):
            return False
        for attempt in range(20):
            try:
                await _provision(connection, login, _password(serving_url))
                return True
            except asyncpg.PostgresError as error:
                if getattr(error, "sqlstate", None) not in _CONCURRENT or attempt == 19:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        return True  # unreachable: the last attempt returns or raises
    finally:
        await connection.close()


async def _provision(connection: asyncpg.Connection, login: str, password: str | None) -> None:
    role = await connection.fetchrow(
        "SELECT rolsuper OR rolreplication OR rolbypassrls AS privileged FROM pg_roles"
        " WHERE rolname = $1",
        login,
    )
    name = _ident(login)
    if role is None:
        await connection.execute(
            f"CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION"
            f" NOBYPASSRLS INHERIT IN ROLE {APP_ROLE}"
        )
    elif role["privileged"]:
        raise ServingRoleRefused(f"role {login!r} is privileged; it cannot serve")
    if not await connection.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", login, APP_ROLE):
        await connection.execute(f"GRANT {APP_ROLE} TO {name}")
    starts_as_app = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
        " WHERE r.rolname = $1 AND s.setdatabase = 0 AND $2 = ANY (s.setconfig))",
        login,
        f"role={APP_ROLE}",
    )
    if not starts_as_app:
        await connection.execute(f"ALTER ROLE {name} SET role = {APP_ROLE}")
    if password is not None:
        # Not a bind parameter: utility statements take none; the literal is quoted here.
        literal = "'" + password.replace("'", "''") + "'"
        await connection.execute(f"ALTER ROLE {name} PASSWORD {literal}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def check_serving_role(serving_url: str) -> None:
    """Refuse a serving URL that is a superuser, may replicate or bypasses row security.

    Both the session's login and the role it runs as are checked, and every role either is
    a member of: a superuser session could undo any SET ROLE, and a member of a superuser
    role could SET ROLE to it. ENTENTE_ALLOW_PRIVILEGED_ROLE=1 waives this (not for
    production; docs/OPERATIONS.md).
    """
    if os.environ.get(ALLOW_PRIVILEGED_ENV) == "1":
        return
    try:
        connection = await asyncpg.connect(asyncpg_dsn(serving_url))
    except asyncpg.InvalidAuthorizationSpecificationError as error:
        raise ServingRoleRefused(
            f"cannot connect as the serving role ({error}); run `entente migrate` first or set"
            f" {APP_URL_ENV}"
        ) from None
    try:
        rows = await connection.fetch(
            "SELECT rolname FROM pg_roles WHERE (rolsuper OR rolreplication OR rolbypassrls)"
            " AND (pg_has_role(session_user, oid, 'MEMBER')"
            " OR pg_has_role(current_user, oid, 'MEMBER'))"
        )
    finally:
        await connection.close()
    if rows:
        names = ", ".join(sorted({row["rolname"] for row in rows}))
        raise ServingRoleRefused(
            f"refusing to serve as, or as a member of, {names}: a superuser, replication or"
            " BYPASSRLS role; set"
            f" {APP_URL_ENV} to a least-privilege login (or {ALLOW_PRIVILEGED_ENV}=1)"
        )

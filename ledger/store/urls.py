"""The database URLs of CONTRACT.md, read and checked, and shown without their password.

- `sqlite:///PATH` — the embedded store; `?mode=ro` opens it for reading only (queries
  answer, `apply` is refused). PATH is taken as written (relative to the working folder).
- `postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME` (or `postgres://`) — `?schema=NAME`
  keeps the ledger's tables in that schema (an SQL identifier: ASCII letters, digits and
  `_`, not starting with a digit, at most 63 characters, PostgreSQL's limit).

Any other parameter is refused, naming it: a mistyped one (`?schem=x`) must not quietly
leave the ledger in the default schema. Every message shows the URL as `redact` does, so
no error ever prints a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from ledger.errors import InvalidCommandError

DEFAULT_DB_URL = "sqlite:///support-ledger.db"  # CONTRACT.md: a file in the working directory

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# The parameters each kind of URL accepts, and the values each may take (None: any).
SQLITE_PARAMETERS: dict[str, tuple[str, ...] | None] = {"mode": ("ro",)}
POSTGRES_PARAMETERS: dict[str, tuple[str, ...] | None] = {"schema": None}


@dataclass(frozen=True)
class StoreUrl:
    """A database URL, read: which store, where, and as whom."""

    text: str  # as given
    sqlite: bool
    path: str = ""  # SQLite: the file, as written
    read_only: bool = False  # SQLite: ?mode=ro
    host: str = ""
    port: int = 5432
    dbname: str = ""
    user: str = "postgres"
    password: str = ""
    schema: str = ""  # PostgreSQL: "" is the server's default, `public`

    @property
    def shown(self) -> str:
        """The URL as messages print it: without its password."""
        return redact(self.text)

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite store: nothing outlives the process that made it."""
        return self.sqlite and (self.path == ":memory:" or "mode=memory" in self.path)


def parse_url(url: str) -> StoreUrl:
    """Read a CONTRACT.md database URL; anything else is refused naming `--db`."""
    if url.startswith(SQLITE_PREFIX):
        path, _, query = url[len(SQLITE_PREFIX):].partition("?")
        if not path:
            raise InvalidCommandError("sqlite URL needs a path: sqlite:///PATH", field="--db")
        parameters = _parameters(query, SQLITE_PARAMETERS)
        return StoreUrl(url, sqlite=True, path=path, read_only=parameters.get("mode") == "ro")
    if url.startswith(POSTGRES_SCHEMES):
        return _postgres(url)
    raise InvalidCommandError(
        f"unsupported database URL {redact(url)!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME",
        field="--db")


def _postgres(url: str) -> StoreUrl:
    parts = urlsplit(redact(url))  # the password may hold characters that would split the URL elsewhere
    shown = redact(url)
    try:
        port = parts.port or 5432
    except ValueError:
        raise InvalidCommandError(f"{shown!r} has no valid port number", field="--db") from None
    dbname = unquote(parts.path.lstrip("/"))
    if not (parts.hostname and dbname):
        raise InvalidCommandError("PostgreSQL URL must be postgresql://USER@HOST:PORT/DBNAME", field="--db")
    parameters = _parameters(parts.query, POSTGRES_PARAMETERS)
    schema = parameters.get("schema")
    if schema is not None and not IDENTIFIER.fullmatch(schema):
        raise InvalidCommandError(
            f"schema {schema!r} is not an SQL identifier (ASCII letters, digits and _, not starting "
            "with a digit, at most 63 characters)", field="--db")
    userinfo = url.partition("://")[2].rpartition("@")[0]
    user, has_password, password = userinfo.partition(":")
    return StoreUrl(url, sqlite=False, host=parts.hostname, port=port, dbname=dbname,
                    user=unquote(user) or "postgres", password=unquote(password) if has_password else "",
                    schema=schema or "")


def _parameters(query: str, accepted: dict[str, tuple[str, ...] | None]) -> dict[str, str]:
    """The URL's parameters, each one accepted and given once."""
    listed = ", ".join(name if values is None else " or ".join(f"{name}={v}" for v in values)
                       for name, values in accepted.items())
    found: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in accepted:
            raise InvalidCommandError(f"unknown URL parameter {name!r} (accepted: {listed})", field="--db")
        if name in found:
            raise InvalidCommandError(f"URL parameter {name!r} is given twice (accepted: {listed})", field="--db")
        values = accepted[name]
        if values is not None and value not in values:
            raise InvalidCommandError(f"URL parameter {name!r} cannot be {value!r} (accepted: {listed})", field="--db")
        found[name] = value
    if query and not found and not parse_qsl(query, keep_blank_values=True):
        raise InvalidCommandError(f"URL parameters {query!r} are not NAME=VALUE (accepted: {listed})", field="--db")
    return found


def redact(url: str) -> str:
    """`url` with its password, if it has one, shown as `***`: `postgresql://u:***@h/db`.
    Whatever the URL holds, even a password with unescaped `/`, `?` or `@` in it: the
    password runs from the first `:` of what comes before the last `@` (showing too little
    is the safe mistake)."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest or rest.startswith("/"):
        return url
    userinfo, _, after = rest.rpartition("@")
    user, has_password, _ = userinfo.partition(":")
    return f"{scheme}://{user}:***@{after}" if has_password else url


def scrub(text: str, store: StoreUrl) -> str:
    """A message from elsewhere (the driver, the server), with the URL and the password
    replaced, should either appear in it."""
    text = text.replace(store.text, store.shown)
    if len(store.password) >= 3:  # a shorter one would blank out ordinary words
        text = text.replace(store.password, "***")
    return text

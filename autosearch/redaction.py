"""The one rule for printing a URI that may hold a secret (the ground floor: every stage may import it).

A tracker URI (``postgresql://user:password@host/db?sslpassword=...``) is shown in messages, in ``.uri``
and in the join command a chief prints; ``redact`` masks its secrets there, always the same way.
"""

from __future__ import annotations

from urllib.parse import unquote

MASK = "***"
SECRET_OPTIONS = ("password", "sslpassword")  # libpq's query options whose values are secrets


def redact(uri: str) -> str:
    """``uri`` with the password of its user info and the value of every secret query option masked.

    ``postgresql://ann:s3cret@db:5432/runs?sslpassword=k&sslmode=require`` becomes
    ``postgresql://ann:***@db:5432/runs?sslpassword=***&sslmode=require``. The user info ends at the last ``@``
    before the query, so a password holding ``@``, ``:``, ``/`` or ``%``, encoded or not, is masked whole.
    Everything else is kept as written.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    head, qmark, query = rest.partition("?")
    userinfo, at, hostpath = head.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        head = f"{user}:{MASK}@{hostpath}" if colon else f"{userinfo}@{hostpath}"
    if qmark:
        query = "&".join(_redact_option(option) for option in query.split("&"))
    return f"{scheme}{sep}{head}{qmark}{query}"


def _redact_option(option: str) -> str:
    name, eq, _ = option.partition("=")
    return f"{name}={MASK}" if eq and unquote(name).strip().lower() in SECRET_OPTIONS else option

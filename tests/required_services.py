"""What the tests need besides Python: a PostgreSQL server, Chromium, setpriv. Without one, its tests skip
on a developer's machine and FAIL where the suite must run whole: when ``AUTOSEARCH_REQUIRE_SERVICES=1``
(``.ci/run`` sets it) or ``CI`` is set (hosted CI services set it themselves), so a green CI run has run them.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE = "AUTOSEARCH_REQUIRE_SERVICES"


def required() -> bool:
    """True where a missing component is a failure, not a skip."""
    ci = os.environ.get("CI", "").strip().lower()
    return os.environ.get(REQUIRE, "").strip() not in ("", "0") or ci not in ("", "0", "false")


def unavailable(what: str, fix: str) -> NoReturn:
    """Skip the test because ``what`` is missing, or fail it when the components are required."""
    if required():
        pytest.fail(f"{what}, and {REQUIRE}=1 or CI requires it: {fix}", pytrace=False)
    pytest.skip(f"{what} ({fix}; {REQUIRE}=1 makes this a failure)")

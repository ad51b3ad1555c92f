"""One redaction rule for every URI autosearch prints: passwords and secret query options are masked."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from autosearch.errors import TrackerError
from autosearch.redaction import redact
from autosearch.tracking.registry import check_uri, offline_uri
from autosearch.workflows.distributed import Chief

PASSWORD = "p@ss:w/rd%9"  # every character that ends or escapes a part of a URI


def test_a_password_holding_at_colon_slash_percent_is_masked_whole() -> None:
    uri = f"postgresql://ann:{quote(PASSWORD, safe='')}@db.example:5432/runs"
    assert redact(uri) == "postgresql://ann:***@db.example:5432/runs"


def test_an_unencoded_password_holding_at_colon_slash_percent_leaks_nothing() -> None:
    shown = redact(f"postgresql://ann:{PASSWORD}@db.example:5432/runs")
    assert shown == "postgresql://ann:***@db.example:5432/runs"
    for piece in ("p@ss", "w/rd", "%9", "ss:w"):
        assert piece not in shown


@pytest.mark.parametrize("option", ["sslpassword", "password", "PASSWORD"])
def test_secret_query_options_have_their_values_masked(option: str) -> None:
    uri = f"postgresql://ann@db/runs?sslmode=require&{option}={quote(PASSWORD, safe='')}&connect_timeout=5"
    assert redact(uri) == f"postgresql://ann@db/runs?sslmode=require&{option}=***&connect_timeout=5"


def test_both_secrets_at_once_are_masked_and_the_rest_is_kept_as_written() -> None:
    uri = "postgres://ann:s3cret@db:5432/runs?sslpassword=k3y&sslmode=verify-full"
    assert redact(uri) == "postgres://ann:***@db:5432/runs?sslpassword=***&sslmode=verify-full"


@pytest.mark.parametrize("uri", ["postgresql://ann@db:5432/runs", "postgresql://db/runs?sslmode=require",
                                 "sqlite:///artifacts/tracker.db", "clearml://my-project?offline=1", "clearml"])
def test_a_uri_without_secrets_is_unchanged(uri: str) -> None:
    assert redact(uri) == uri


def test_the_join_command_a_chief_prints_masks_the_trackers_secrets() -> None:
    tracker = f"postgresql://ann:{quote(PASSWORD, safe='')}@db:5432/runs?sslpassword=k3y"
    chief = Chief("0.0.0.0:7000", "host:7000", 20.0, print, tracker)
    command = chief.join_command("RUN")
    assert command.endswith("--tracker postgresql://ann:***@db:5432/runs?sslpassword=***")
    assert quote(PASSWORD, safe="") not in command and "k3y" not in command


def test_an_unknown_scheme_error_does_not_print_the_password() -> None:
    with pytest.raises(TrackerError) as err:
        check_uri("postgresq://ann:s3cret@db/runs?sslpassword=k3y")
    assert "postgresq://ann:***@db/runs?sslpassword=***" in str(err.value)
    assert "s3cret" not in str(err.value) and "k3y" not in str(err.value)


def test_offline_refused_for_a_postgresql_uri_does_not_print_the_password() -> None:
    with pytest.raises(TrackerError) as err:
        offline_uri("postgresql://ann:s3cret@db/runs")
    assert "ann:***@db" in str(err.value) and "s3cret" not in str(err.value)


def test_a_postgresql_option_error_does_not_print_the_password_or_sslpassword() -> None:
    with pytest.raises(TrackerError) as err:
        check_uri("postgresql://ann:s3cret@db/runs?sslpassword=k3y&colour=blue")
    assert "unknown option 'colour'" in str(err.value)
    assert "s3cret" not in str(err.value) and "k3y" not in str(err.value)


def test_a_postgresql_tracker_that_cannot_connect_names_its_uri_with_the_secrets_masked() -> None:
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    uri = f"postgres://ann:{quote(PASSWORD, safe='')}@127.0.0.1:1/runs?sslpassword=k3y&connect_timeout=2"
    with pytest.raises(TrackerError) as err:
        PostgreSQLTracker(uri)  # port 1: nothing listens, the connection is refused at once
    message = str(err.value)
    assert "cannot connect to tracker postgresql://ann:***@127.0.0.1:1/runs?sslpassword=***&connect_timeout=2" \
        in message
    assert "k3y" not in message and quote(PASSWORD, safe="") not in message

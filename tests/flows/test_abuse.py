"""Brute-force defence: rate limits (429 + Retry-After) and per-account progressive delay."""

from __future__ import annotations

import pytest

from idp import clock

from ..conftest import USER_EMAIL, USER_PASSWORD, make_user
from ..helpers import Browser


def test_login_rate_limit_answers_429_with_retry_after(make_app):
    app = make_app(rate_limit_login="3/minute")
    browser = Browser(app.test_client())
    statuses = [
        browser.sign_in(f"user{i}@example.com", "whatever-pass").status_code for i in range(4)
    ]
    assert statuses[:3] == [401, 401, 401]
    limited = browser.sign_in("user9@example.com", "whatever-pass")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert "Too many attempts" in limited.get_data(as_text=True)


def test_token_endpoint_rate_limit_answers_json_429(make_app):
    app = make_app(rate_limit_token="2/minute")
    client = app.test_client()
    for _ in range(2):
        client.post("/token", data={"grant_type": "client_credentials"})
    limited = client.post("/token", data={"grant_type": "client_credentials"})
    assert limited.status_code == 429
    assert limited.is_json and limited.get_json()["error"] == "temporarily_unavailable"
    assert int(limited.headers["Retry-After"]) > 0


def test_failed_sign_ins_slow_down_exponentially(app):
    make_user(app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(app.test_client())
    for _ in range(3):
        assert browser.sign_in(USER_EMAIL, "wrong password").status_code == 401
    waits = []
    for _ in range(4):
        assert browser.sign_in(USER_EMAIL, "wrong password").status_code == 401
        held = browser.sign_in(USER_EMAIL, USER_PASSWORD)  # even the right password waits
        assert held.status_code == 429
        waits.append(int(held.headers["Retry-After"]))
        clock.advance(waits[-1])
    assert waits == [1, 2, 4, 8]
    assert browser.sign_in(USER_EMAIL, USER_PASSWORD).status_code == 303


def test_unknown_emails_slow_down_the_same_way(app):
    browser = Browser(app.test_client())
    for _ in range(4):
        browser.sign_in("nobody@example.com", "wrong password")
    held = browser.sign_in("nobody@example.com", "wrong password")
    assert held.status_code == 429
    assert held.headers["Retry-After"] == "1"


def test_a_device_the_owner_used_before_is_not_slowed_by_strangers(app):
    make_user(app, USER_EMAIL, USER_PASSWORD)
    owner = Browser(app.test_client())
    assert owner.sign_in(USER_EMAIL, USER_PASSWORD).status_code == 303
    stranger = Browser(app.test_client())
    for _ in range(8):
        stranger.sign_in(USER_EMAIL, "guess")
    assert stranger.sign_in(USER_EMAIL, USER_PASSWORD).status_code == 429
    assert owner.sign_in(USER_EMAIL, USER_PASSWORD).status_code == 303


def test_concurrent_failures_are_all_counted(app):
    """The per-email delay counts with atomic increments: no failure is lost to a race."""
    import threading

    from idp.services import throttle

    barrier = threading.Barrier(8)

    def fail_five():
        with app.app_context():
            barrier.wait()
            for _ in range(5):
                throttle.record_failure("target@example.com", None)

    threads = [threading.Thread(target=fail_five) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert throttle.failures("target@example.com", None) == 40
        assert throttle.retry_after("target@example.com", None) == throttle.MAX_DELAY_SECONDS


def _paired_times(client, path: str, emails: list[str], rounds: int) -> list[list[float]]:
    """Response times per email, the emails posted in turn so load bursts hit both alike."""
    import re
    import time

    page = client.get("/password/forgot")  # any form's CSRF token serves
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    times: list[list[float]] = [[] for _ in emails]
    for _ in range(rounds):
        for index, email in enumerate(emails):
            started = time.perf_counter()
            response = client.post(
                path, data={"csrf_token": token.group(1), "email": email}, buffered=False
            )
            times[index].append(time.perf_counter() - started)
            assert response.status_code == 200
            response.close()  # the work after the response, as a server runs it: not timed
    return times


@pytest.mark.parametrize("path", ["/password/forgot", "/verify-email/resend"])
def test_known_and_unknown_emails_cost_the_same(production_password_hashing, app, path):
    """Medians of paired differences: the known email's extra work used to add ~150%."""
    import statistics

    from idp.services import users

    with app.app_context():
        users.create_user(USER_EMAIL, USER_PASSWORD, email_verified=False)
    client = app.test_client()
    _paired_times(client, path, [USER_EMAIL, "nobody@example.com"], rounds=3)  # warm up
    known, unknown = _paired_times(client, path, [USER_EMAIL, "nobody@example.com"], rounds=25)
    difference = statistics.median(k - u for k, u in zip(known, unknown, strict=True))
    baseline = statistics.median(unknown)
    # Loose enough for a loaded CI machine, tight enough for the ~150% the extra work added.
    assert abs(difference) <= 0.5 * baseline + 0.002, (statistics.median(known), baseline)


def test_registering_a_taken_or_a_free_address_costs_the_same(production_password_hashing, app):
    import re
    import statistics
    import time

    make_user(app, USER_EMAIL, USER_PASSWORD)
    client = app.test_client()
    page = client.get("/register")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    taken, free = [], []
    for round_ in range(18):
        for email, times in ((USER_EMAIL, taken), (f"new{round_}@example.com", free)):
            form = {"csrf_token": token, "email": email, "password": "a long passphrase here"}
            started = time.perf_counter()
            response = client.post("/register", data=form, buffered=False)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
            response.close()  # the account job runs after the response: not timed
    taken, free = taken[3:], free[3:]  # warm-up rounds
    difference = statistics.median(t - f for t, f in zip(taken, free, strict=True))
    baseline = statistics.median(free)
    assert abs(difference) <= 0.2 * baseline + 0.002, (statistics.median(taken), baseline)


def test_store_increments_count_from_one_and_expire(app, settings):
    store = app.extensions["idp.store"]
    assert [store.incr("count-me", 60) for _ in range(3)] == [1, 2, 3]
    if settings["redis_url"]:
        from idp.store import redis_client  # any REDIS_URL form (the scale suite: Cluster)

        client = redis_client(settings["redis_url"])
        assert 0 < client.ttl(settings["redis_prefix"] + "count-me") <= 60  # never without TTL
        client.close()
    else:
        clock.advance(61)
        assert store.incr("count-me", 60) == 1


def test_token_endpoint_limit_slides_and_is_per_address(make_app):
    app = make_app(rate_limit_token="2/minute")
    client = app.test_client()

    def post(address):
        return client.post(
            "/token",
            data={"grant_type": "client_credentials"},
            environ_base={"REMOTE_ADDR": address},
        )

    clock.advance(60 - clock.now() % 60 + 1)  # one second into a minute window
    assert [post("198.51.100.7").status_code for _ in range(2)] == [401, 401]
    limited = post("198.51.100.7")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert post("198.51.100.8").status_code == 401  # another address has its own count
    clock.advance(60)  # a window later, the two still weigh ~59/60 on the sliding window
    assert post("198.51.100.7").status_code == 429
    clock.advance(60)
    assert post("198.51.100.7").status_code == 401

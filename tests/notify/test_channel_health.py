"""When a Discord channel may be tried: back-off, rate limits, a refused credential."""

from __future__ import annotations

from ctoops.policy import channel_health as h


def test_5xx_backoff_doubles_from_30_s_and_caps_at_15_min():
    assert [h.backoff_s(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [30, 60, 120, 240, 480, 900, 900]


def test_transient_failure_blocks_until_backoff_unless_forced():
    rec = h.after(h.current(None, "c"), h.TRANSIENT, 100.0, "HTTP 500")
    ok, why = h.usable(rec, 129.0)
    assert not ok and "backing off" in why and "HTTP 500" in why
    assert h.usable(rec, 129.0, ignore_backoff=True)[0]
    assert h.usable(rec, 130.0)[0]


def test_a_rate_limit_is_honoured_even_when_forced():
    rec = h.after(h.current(None, "c"), h.RATE_LIMITED, 100.0, "429", retry_after_s=60.0)
    ok, why = h.usable(rec, 120.0, ignore_backoff=True)
    assert not ok and "rate limited" in why
    assert h.usable(rec, 160.0)[0]


def test_repeated_401_stops_the_channel_until_the_credential_changes():
    rec = h.current(None, "cred-1")
    for i in range(h.AUTH_STOP_AFTER):
        assert h.usable(rec, 0.0)[0], i
        rec = h.after(rec, h.AUTH, float(i), "HTTP 401")
    ok, why = h.usable(rec, 10.0)
    assert not ok and "credential" in why and "notify test" in why
    assert h.usable(rec, 10.0, ignore_auth_stop=True)[0]
    assert h.usable(h.current(rec, "cred-2"), 10.0)[0]  # a new credential: tried again
    assert h.usable(h.current(rec, "cred-1"), 10.0) == (ok, why)


def test_one_success_clears_failures_and_auth_count():
    rec = h.current(None, "c")
    rec = h.after(rec, h.TRANSIENT, 0.0, "x")
    rec = h.after(rec, h.AUTH, 1.0, "y")
    rec = h.after(rec, h.SENT, 2.0)
    assert rec["failures"] == 0 and rec["auth_failures"] == 0 and h.usable(rec, 2.0)[0]


def test_a_rejected_message_does_not_penalise_the_channel():
    rec = h.after(h.current(None, "c"), h.REJECTED, 0.0, "HTTP 400")
    assert h.usable(rec, 0.0)[0]

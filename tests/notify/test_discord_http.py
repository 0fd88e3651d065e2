"""Discord's HTTP behaviour, against the local fake (real HTTP, no mocks)."""

from __future__ import annotations

import time

import pytest

from ctoops.actions import discord
from ctoops.actions.delivery import RemoteRun
from ctoops.config import DiscordConfig, NotifyConfig
from ctoops.policy import channel_health as health
from tests.fakes.discord_server import FakeDiscord, Reply

NOW = 1_800_000_000.0
PAYLOAD = {"content": "hello", "embeds": [], "allowed_mentions": {"parse": []}}


def cfg(fake: FakeDiscord | None = None, url: str = "", order: tuple[str, ...] = ("discord_webhook",),
        timeout_s: float = 1.0, max_inline_wait_s: float = 2.0) -> NotifyConfig:
    return NotifyConfig(
        order=list(order),
        discord=DiscordConfig(webhook_url=url or (fake.webhook_url if fake else ""),
                              channel="general-luna",
                              channel_id=fake.channel_id if fake else "",
                              bot_token_env="FAKE_BOT_TOKEN",
                              api_base=fake.api_base if fake else "https://discord.com/api/v10",
                              timeout_s=timeout_s, max_inline_wait_s=max_inline_wait_s),
        restart_notice_delay_s=0, repeat_interval_s=3600, outbox_max_age_s=86400,
        mc_output="logs/mc-output.jsonl")


def remote(c: NotifyConfig, env: dict[str, str] | None = None, channels: dict | None = None,
           **kw) -> RemoteRun:
    targets = [t for t in discord.targets(c, env or {}) if isinstance(t, discord.Target)]
    return RemoteRun(targets, channels or {}, c.discord, NOW, **kw)


def test_r22_delivery_after_429_waits_retry_after_then_sends(discord_server):
    discord_server.script(Reply.rate_limited(0.4))
    run = remote(cfg(discord_server))
    sent = run.send(PAYLOAD)
    posts = discord_server.posts()
    assert sent.via == "discord_webhook"
    assert [p.status for p in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 0.38
    assert posts[1].query == {"wait": ["true"]}
    assert discord_server.messages == [PAYLOAD]


def test_429_in_milliseconds_is_read_as_milliseconds(discord_server):
    discord_server.script(Reply.rate_limited(0.3, unit="ms"))
    started = time.monotonic()
    sent = remote(cfg(discord_server)).send(PAYLOAD)
    assert sent.via == "discord_webhook" and 0.28 <= time.monotonic() - started < 1.5


@pytest.mark.parametrize(("headers", "body", "expected"), [
    ({"Retry-After": "1"}, {"retry_after": 0.25}, 0.25),  # v10: seconds
    ({"Retry-After": "1"}, {"retry_after": 250}, 0.25),  # older APIs: milliseconds
    ({"X-RateLimit-Reset-After": "2.5"}, {"retry_after": 2500}, 2.5),
    ({}, {"retry_after": 1.5}, 1.5),
    ({}, {"retry_after": 1500}, 1.5),  # an integer >= 1000 with nothing to compare: ms
    ({"Retry-After": "7"}, None, 7.0),  # a Cloudflare page: the header only
    ({}, None, discord.DEFAULT_RETRY_AFTER_S),
])
def test_retry_after_units(headers, body, expected):
    assert discord.retry_after(headers, body)[0] == pytest.approx(expected)


def test_global_flag_is_read_from_body_or_headers():
    assert discord.retry_after({}, {"retry_after": 1, "global": True})[1]
    assert discord.retry_after({"X-RateLimit-Global": "true"}, {"retry_after": 1})[1]
    assert not discord.retry_after({}, {"retry_after": 1, "global": False})[1]


def test_a_long_429_is_not_waited_and_leaves_the_message_for_the_outbox(discord_server):
    discord_server.script(Reply.rate_limited(60.0))
    run = remote(cfg(discord_server))
    started = time.monotonic()
    first, second = run.send(PAYLOAD), run.send(PAYLOAD)
    assert time.monotonic() - started < 1.0
    assert first.via is None and second.via is None
    assert len(discord_server.posts()) == 1  # not tried again in the same run
    rec = run.recs["discord_webhook"]
    assert rec["backoff_kind"] == health.RATE_LIMITED
    assert rec["backoff_until"] == pytest.approx(NOW + 60, abs=1)


def test_global_429_pauses_the_bot_channel_too(discord_server):
    discord_server.script(Reply.rate_limited(30.0, is_global=True))
    c = cfg(discord_server, order=("discord_webhook", "discord_bot"))
    run = remote(c, env={"FAKE_BOT_TOKEN": discord_server.bot_token})
    sent = run.send(PAYLOAD)
    assert sent.via is None and len(discord_server.posts()) == 1
    assert "discord_bot" in run.down


def test_empty_bucket_header_waits_before_the_next_request(discord_server):
    discord_server.script(Reply(200, headers={"X-RateLimit-Remaining": "0",
                                              "X-RateLimit-Reset-After": "0.4"}))
    run = remote(cfg(discord_server))
    assert run.send(PAYLOAD).via and run.send(PAYLOAD).via
    a, b = discord_server.posts()
    assert b.at - a.at >= 0.38


def test_5xx_is_retried_once_then_the_channel_backs_off(discord_server):
    discord_server.script(Reply.server_error(), Reply.server_error(502))
    run = remote(cfg(discord_server))
    first, second = run.send(PAYLOAD), run.send(PAYLOAD)
    assert first.via is None and second.via is None
    assert [p.status for p in discord_server.posts()] == [500, 502]
    rec = run.recs["discord_webhook"]
    assert rec["failures"] == 1 and rec["backoff_until"] == pytest.approx(NOW + 30, abs=3)
    assert "HTTP 502" in first.detail


def test_5xx_then_success_delivers_in_the_same_run(discord_server):
    discord_server.script(Reply.server_error(503))
    assert remote(cfg(discord_server)).send(PAYLOAD).via == "discord_webhook"


def test_a_slow_discord_is_given_up_on_after_timeout_s(discord_server):
    discord_server.script(Reply.slow(3.0))
    run = remote(cfg(discord_server, timeout_s=0.5))
    started = time.monotonic()
    sent = run.send(PAYLOAD)
    assert time.monotonic() - started < 1.5
    assert sent.via is None and "no answer within 0.5 s" in sent.detail


def test_connection_refused_is_a_transient_failure(down_url):
    run = remote(cfg(url=down_url))
    sent = run.send(PAYLOAD)
    assert sent.via is None and "cannot connect" in sent.detail
    assert run.recs["discord_webhook"]["failures"] == 1


def test_401_stops_the_channel_and_says_the_credential_is_wrong(discord_server):
    url = discord_server.webhook_url.replace(discord_server.webhook_token, "wrongTokenXYZ123")
    run = remote(cfg(url=url))
    first, second = run.send(PAYLOAD), run.send(PAYLOAD)
    assert len(discord_server.posts()) == 1  # stopped for the rest of the run
    assert "HTTP 401" in first.detail and "credential" in first.detail
    assert "wrongTokenXYZ123" not in first.detail + second.detail
    assert run.recs["discord_webhook"]["auth_failures"] == 1


def test_bot_channel_posts_with_the_bot_token(discord_server):
    c = cfg(discord_server, order=("discord_bot", "discord_webhook"))
    sent = remote(c, env={"FAKE_BOT_TOKEN": discord_server.bot_token}).send(PAYLOAD)
    (post,) = discord_server.posts()
    assert sent.via == "discord_bot"
    assert post.path == f"/api/v10/channels/{discord_server.channel_id}/messages"
    assert post.headers["authorization"] == f"Bot {discord_server.bot_token}"


def test_bot_refused_falls_through_to_the_webhook(discord_server):
    c = cfg(discord_server, order=("discord_bot", "discord_webhook"))
    sent = remote(c, env={"FAKE_BOT_TOKEN": "notTheBotToken123"}).send(PAYLOAD)
    assert sent.via == "discord_webhook"
    assert [p.status for p in discord_server.posts()] == [401, 200]


def test_a_400_is_a_rejected_message_not_a_broken_channel(discord_server):
    discord_server.script(Reply(400, {"message": "Invalid Form Body", "code": 50035}))
    run = remote(cfg(discord_server))
    sent = run.send(PAYLOAD)
    assert sent.via is None and "Invalid Form Body" in sent.rejected
    assert run.send(PAYLOAD).via == "discord_webhook"


def test_webhook_answering_204_counts_as_delivered(discord_server):
    discord_server.script(Reply.no_content())
    assert remote(cfg(discord_server)).send(PAYLOAD).via == "discord_webhook"


def test_unconfigured_channels_are_skipped_with_the_reason():
    out = discord.targets(cfg(url="", order=("discord_bot", "discord_webhook")), {})
    assert [type(o).__name__ for o in out] == ["Skipped", "Skipped"]
    assert "channel_id" in out[0].reason and "CTOOPS_DISCORD_WEBHOOK" in out[1].reason


def test_the_run_stops_starting_requests_after_its_send_budget(discord_server):
    discord_server.script(*[Reply.slow(0.4)] * 10)
    c = cfg(discord_server, timeout_s=0.2, max_inline_wait_s=0.0)
    run = remote(c)  # budget: 3 * 0.2 + 0 = 0.6 s
    started = time.monotonic()
    results = [run.send(PAYLOAD) for _ in range(10)]
    assert time.monotonic() - started < 2.0
    assert all(r.via is None for r in results)

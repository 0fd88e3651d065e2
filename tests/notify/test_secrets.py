"""Secrets never land in a file the run wrote, nor on stdout/stderr (issue 4, item 6)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.discord_server import Reply
from tests.notify.support import set_notify

AT = 1_800_000_000


def all_bytes(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_no_secret_in_any_file_or_output_whatever_discord_answers(ctoops, workspace,
                                                                  discord_server, fake_logger):
    webhook_token = discord_server.webhook_token
    bot_token = discord_server.bot_token
    # The webhook comes from the environment (the documented way); the config
    # file names the bot token's variable, not the token.
    set_notify(workspace, order=["discord_bot", "discord_webhook", "mc_output", "syslog"],
               discord={"webhook_url": "${CTOOPS_DISCORD_WEBHOOK}", "timeout_s": 1.0,
                        "channel_id": discord_server.channel_id, "api_base": discord_server.api_base,
                        "max_inline_wait_s": 1.0})
    env = {"CTOOPS_DISCORD_WEBHOOK": discord_server.webhook_url,
           "CTOOPS_DISCORD_BOT_TOKEN": bot_token, **fake_logger[0]}
    discord_server.script(Reply.unauthorized(), Reply.server_error(), Reply.server_error(),
                          Reply.rate_limited(30.0), Reply.forbidden(), Reply.slow(2.0),
                          Reply(400, {"message": "Invalid Form Body", "code": 50035}))
    outputs = []
    steps = [("notify", "gateway-up"), ("--verbose", "notify", "gateway-up"),
             ("--json", "notify", "test"), ("--json", "--verbose", "notify", "flush"),
             ("--json", "status"), ("--json", "config", "show"), ("audit", "tail"),
             ("--json", "notify", "test"), ("--json", "notify", "flush")]
    for i, args in enumerate(steps):
        r = ctoops(*args, env={**env, "CTOOPS_FAKE_NOW": str(AT + 100 * i)})
        outputs.append(r.stdout + r.stderr)
    text = "\n".join(outputs) + fake_logger[1].read_text()  # what went to syslog too
    assert len(discord_server.posts()) >= 7, text  # every scripted answer was met
    assert "…/" in text  # masked labels are shown instead
    for secret in (webhook_token, bot_token, discord_server.webhook_url):
        assert secret not in text
        for path, data in all_bytes(workspace):
            assert secret.encode() not in data, f"{secret[:6]}… found in {path}"

"""--write-config: set the restart way's keys, keep every comment and other key."""

from __future__ import annotations

import difflib

import pytest
import yaml

from ctoops.config import default_config_text
from ctoops.errors import UsageError
from ctoops.policy.config_edit import set_gateway_keys

USER_KEYS = {"systemd_scope": "user",
             "restart_command": ["systemctl", "--user", "restart", "openclaw-gateway.service"]}


def test_default_config_changes_exactly_the_two_lines_and_keeps_comments() -> None:
    text = default_config_text()
    new = set_gateway_keys(text, USER_KEYS, "cfg")
    changed = [line for line in difflib.ndiff(text.splitlines(), new.splitlines())
               if line.startswith(("+ ", "- "))]
    assert changed == [
        "-   systemd_scope: system",
        '+   systemd_scope: "user"',
        "-   restart_command: [sudo, systemctl, restart, openclaw-gateway]",
        '+   restart_command: ["systemctl", "--user", "restart", "openclaw-gateway.service"]',
    ]
    assert yaml.safe_load(new)["gateway"]["restart_command"] == USER_KEYS["restart_command"]


def test_block_style_list_is_replaced_whole() -> None:
    text = ("# top\ngateway:\n  unit: gw\n  restart_command:\n    - sudo\n    - systemctl\n"
            "  # keep me\n  health_url: http://x\nguardrails:\n  restarts_per_window: 3\n")
    new = set_gateway_keys(text, {"restart_command": ["systemctl", "restart", "gw"]}, "cfg")
    assert new == ('# top\ngateway:\n  unit: gw\n  restart_command: ["systemctl", "restart", "gw"]\n'
                   "  # keep me\n  health_url: http://x\nguardrails:\n  restarts_per_window: 3\n")


def test_missing_key_is_inserted_and_missing_section_is_appended() -> None:
    new = set_gateway_keys("gateway:\n    unit: gw\n", {"systemd_scope": "user"}, "cfg")
    assert new == 'gateway:\n    systemd_scope: "user"\n    unit: gw\n'
    appended = set_gateway_keys("notify:\n  channel: x\n", {"systemd_scope": "user"}, "cfg")
    assert yaml.safe_load(appended) == {"notify": {"channel": "x"},
                                        "gateway": {"systemd_scope": "user"}}
    assert set_gateway_keys("", {"systemd_scope": "user"}, "cfg") == \
        'gateway:\n  systemd_scope: "user"\n'


@pytest.mark.parametrize("text", [
    "gateway: {unit: gw}\n",                     # flow style
    "gateway:\n  unit: gw\ngateway:\n  unit: x\n",  # twice
    "gateway: [1, 2\n",                          # not YAML
    "gateway:\n  - a\n",                         # not a mapping
    "- a\n- b\n",                                # not sections at all
])
def test_shapes_it_cannot_edit_safely_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        set_gateway_keys(text, USER_KEYS, "cfg")

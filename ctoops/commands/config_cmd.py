"""`ctoops config validate|show`."""

from __future__ import annotations

from ctoops.config import config_as_dict
from ctoops.context import Context
from ctoops.report import Report


def validate(ctx: Context) -> Report:
    cfg = ctx.config  # raises ConfigError (exit 78) naming the file and key
    return Report("config validate", 0, "OK", f"{cfg.source}: valid",
                  data={"source": cfg.source})


def show(ctx: Context) -> Report:
    cfg = ctx.config
    data = config_as_dict(cfg)
    if not ctx.json:
        import yaml

        print(f"# effective configuration from {cfg.source} (secrets redacted)")
        print(yaml.safe_dump(data, sort_keys=False).rstrip())
    return Report("config show", 0, "OK", f"effective configuration from {cfg.source}",
                  data={"source": cfg.source, "config": data})

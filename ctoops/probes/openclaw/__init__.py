"""Read-only views of the OpenClaw gateway's state root, in both storage eras.

Facts relied on are in ../shared/OPENCLAW.md (checked against 2026.7.1 and
2026.9.6). Nothing in this package writes the gateway's files or databases.
"""

"""ctoops: the operational-health agent for hosts that run the OpenClaw gateway.

Every subcommand is sense -> decide -> act -> record (see DESIGN.md); this package
keeps those four places apart: probes/, policy/, actions/, and state.py + audit.py.
"""

__version__ = "0.1.0"

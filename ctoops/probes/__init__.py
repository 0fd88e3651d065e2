"""Probes read the world into plain immutable values. They never decide or write."""

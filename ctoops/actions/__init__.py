"""Effectors: carry out allowed actions; each honours dry-run by describing itself."""

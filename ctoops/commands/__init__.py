"""One module per subcommand, each the four steps (sense, decide, act, record)."""

"""One module per ``posturewatch`` subcommand (see :mod:`detect.cli`)."""

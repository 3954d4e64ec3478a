"""One module per ``pairbench`` subcommand (``HELP``, ``add_arguments``, ``run``)."""

"""The subcommands of ``taste2vec-lifecycle``, one module per area (``cli.AREAS``)."""

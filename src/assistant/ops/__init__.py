"""Administration beside the daemon: doctor, backup and restore, migrations, the env file,
the configuration reference. Peers of ``app``: they never import the daemon."""

"""fs-admin: the archive operator's command line."""

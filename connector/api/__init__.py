"""Small clients for the archive's HTTP APIs (WKVS, WPS, UCS), shared by all commands."""

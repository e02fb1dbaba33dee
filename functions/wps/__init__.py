"""WPS: work packages, their access tokens, and work order tokens."""

"""The download side: wait for staging, fetch byte ranges in parallel, resume, verify, decrypt."""

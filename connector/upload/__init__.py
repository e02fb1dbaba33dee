"""The upload side: plan parts, encrypt on the fly, upload in parallel, resume."""

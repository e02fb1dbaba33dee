"""Deployment: the one declaration of resources, and what is derived from it."""

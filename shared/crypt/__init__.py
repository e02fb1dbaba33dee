"""Crypt4GH and NaCl helpers shared by the services and the connector.

Depends only on crypt4gh, cryptography and PyNaCl, so the connector may use it.
"""

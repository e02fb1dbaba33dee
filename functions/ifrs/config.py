"""IFRS settings (``IFRS_*`` variables): the shared resource settings, nothing of its own."""

from __future__ import annotations

from shared.settings import ResourceSettings


class IfrsConfig(ResourceSettings):
    pass

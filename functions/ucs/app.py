"""UCS: not built yet; answers /health so the stack can serve it."""

from shared.http import ServiceApp

service = ServiceApp("ucs")
app = service.chalice

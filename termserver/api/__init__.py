"""The HTTP server: FastAPI app factory and one router per area."""

"""The web server: the REST API under /api/v1 (and, later, the web pages on it)."""

"""Anxin 12349: the web service (HTTP API, pages, websockets) and the command line."""

"""The analysts' web console: FastAPI app, Jinja templates, static files."""

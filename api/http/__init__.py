"""The HTTP service: the FastAPI app, its dependencies, problems, schemas and routes."""

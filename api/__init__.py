"""The REST API and web viewer: a thin HTTP layer over ``pipeline.Pipeline``."""

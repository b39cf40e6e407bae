"""alembic's revisions; a package so that `simhost.db` can find the migrations through importlib.resources."""

"""Alembic migrations of the store, run by ``open_store`` (see assistant/store/migrate.py)."""

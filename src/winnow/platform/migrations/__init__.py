"""Alembic migrations of the platform schema, packaged so no alembic.ini is needed."""

"""SQLite state: one database, migrations, and the tables' access classes."""

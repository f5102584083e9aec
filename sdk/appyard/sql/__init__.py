"""Data sources and `.sql` functions (DESIGN §8).

:mod:`.text` reads `.sql` files without a database. The modules that talk to databases (sources, execution,
smart tables) import SQLAlchemy, so nothing here is imported by ``import appyard``.
"""

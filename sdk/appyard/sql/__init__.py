"""SQL for Appyard: data sources (:mod:`.sources`), `.sql` functions (:mod:`.text`, :mod:`.execution`) and their
errors (:mod:`.errors`). Importing this package imports nothing heavy; the submodules import SQLAlchemy."""

"""Project-local servers from Debian's packages, each with its data in the workspace and reachable only through a
unix socket there: PostgreSQL for Airflow's database, MariaDB for ML Metadata, Redis for Celery's broker."""

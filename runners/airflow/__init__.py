"""The pipeline under Airflow: the DAG file, the lazily built DAG behind it, and a local Airflow's daemons."""

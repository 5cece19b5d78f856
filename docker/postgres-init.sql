-- MLflow's backend store lives beside the Airflow metadata DB.
CREATE DATABASE mlflow OWNER airflow;

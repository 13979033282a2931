-- Run once by the postgres image on a new volume: the second database, for the Prefect server
-- (newsmon's own database is POSTGRES_DB). Both belong to POSTGRES_USER.
CREATE DATABASE prefect;

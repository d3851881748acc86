-- Docker only (postgres image, /docker-entrypoint-initdb.d): the app role is NOT a superuser and
-- owns its database, so migrations can create tables. Mirrors what services/stack.py does locally.
CREATE ROLE crmio LOGIN PASSWORD 'crmio';
CREATE DATABASE crmio OWNER crmio;

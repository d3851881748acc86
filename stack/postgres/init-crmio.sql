-- Docker only (postgres image, /docker-entrypoint-initdb.d). Mirrors what services/stack.py does
-- locally: the owner role (migrations and cross-company tasks: BYPASSRLS, not a superuser) owns
-- the database; the service role (crmio_app) is neither owner nor BYPASSRLS, so row-level
-- security (migration 006) binds it.
CREATE ROLE crmio LOGIN NOSUPERUSER BYPASSRLS PASSWORD 'crmio';
CREATE ROLE crmio_app LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'crmio_app';
CREATE DATABASE crmio OWNER crmio;

#!/bin/sh
# One database and one owning role per service (DESIGN: each service owns its database and
# no service reads another's tables). Run once by the postgres image on an empty data dir;
# each <SERVICE>_DB_PASSWORD comes from deploy/compose/.env.
set -eu

for service in intake routing sla refund notify; do
    var="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    eval "password=\${$var:?$var is not set}"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v service="$service" -v password="$password" <<'SQL'
CREATE ROLE :"service" LOGIN PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE ALL ON DATABASE :"service" FROM PUBLIC;
SQL
    echo "created database $service"
done

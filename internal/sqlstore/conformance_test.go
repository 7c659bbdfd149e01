package sqlstore_test

import (
	"testing"

	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
	"github.com/tollgate/tollgate/internal/sqlstore/storetest"
)

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *sqlstore.Store { return sqltest.SQLite(t) })
}

func TestConformancePostgres(t *testing.T) {
	sqltest.PostgresURL(t) // skip or fail early, once, when there is no server
	storetest.Run(t, func(t *testing.T) *sqlstore.Store { return sqltest.Postgres(t) })
}

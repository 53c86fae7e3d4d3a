package pgkv

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's versions, applied in order: version i+1 is
// migrations[i]. Append; never change one that has shipped.
var migrations = []string{
	// 1: buckets (parent 0 is the top level; seq is the bucket's
	// sequence, a uint64 stored in a bigint) and their keys. The primary
	// keys are the indexes cursors and lookups walk.
	`CREATE TABLE kv_bucket (
		id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		parent bigint NOT NULL,
		name   bytea  NOT NULL,
		seq    bigint NOT NULL DEFAULT 0,
		UNIQUE (parent, name)
	);
	CREATE TABLE kv_entry (
		bucket bigint NOT NULL,
		k      bytea  NOT NULL,
		v      bytea  NOT NULL,
		PRIMARY KEY (bucket, k)
	);`,
}

// SchemaVersion is the version Open brings a database to.
var SchemaVersion = len(migrations)

// lockKey is the advisory lock taken while migrating, so that nodes
// starting at once migrate one after the other ("gshare-kv" in ASCII).
const lockKey = 0x6773686172652d6b

// migrate brings the schema to SchemaVersion in one transaction under the
// advisory lock, and refuses a database migrated by a newer G-Share.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS kv_schema (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("create kv_schema: %w", err)
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM kv_schema`).Scan(&v)
		switch {
		case err == pgx.ErrNoRows:
			if _, err := tx.Exec(ctx, `INSERT INTO kv_schema (version) VALUES (0)`); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("read version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("database schema is version %d, newer than this G-Share's %d", v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE kv_schema SET version = $1`, len(migrations)); err != nil {
			return fmt.Errorf("set version: %w", err)
		}
		return nil
	})
}

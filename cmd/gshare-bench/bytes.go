package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"gshare/storage/kv/boltkv"
)

// The step bytes (issue 20): what the metadata store grows by per
// document, on each engine. Documents are stored through the HTTP API
// (PUT of 4 KiB), so the figure is everything a document costs the
// metadata: its tree entry, its version with the wrapped file key, its
// change-feed entry and its audit entry (with the audit tree's nodes),
// plus the indexes. Then each document gets one more version.

// docPath is a typical document path: a Lao budget report, three folders
// deep, ten provinces' folders.
func docPath(i int) string {
	return fmt.Sprintf("/bench/ງົບປະມານ 2026/ໄຕມາດ 4/ແຂວງ %d/ບົດລາຍງານການເງິນ-%05d.pdf", i%10, i)
}

var doc4k = bytes.Repeat([]byte("0123456789abcdef"), 256)

func (b *bench) bytesStep(ctx context.Context) error {
	n := 2000
	if b.o.quick {
		n = 500
	}
	if err := b.bytesBolt(ctx, n); err != nil {
		return fmt.Errorf("bbolt: %w", err)
	}
	if err := b.bytesPostgres(ctx, n); err != nil {
		return fmt.Errorf("postgresql: %w", err)
	}
	return nil
}

// putDocs stores documents 0..n-1 (again: a new version) with 8 clients.
func putDocs(ctx context.Context, g *gshare, n int) error {
	return parallel(8, 0, n, func(i int) error {
		_, err := g.api.Put(ctx, docPath(i), bytes.NewReader(doc4k), int64(len(doc4k)), nil)
		return err
	})
}

// bytesBolt measures meta.db with the server stopped (bbolt's lock):
// the pages in use, that is the file's size less its free pages (the
// file itself grows in steps of up to 16 MiB).
func (b *bench) bytesBolt(ctx context.Context, n int) error {
	name := "bytes-bbolt"
	env := b.s3Env("gshare-bytes-bbolt")
	g, err := b.startGShare(name, env...)
	if err != nil {
		return err
	}
	file := filepath.Join(b.o.work, name+"-data", "meta.db")
	var used [3]int64
	for phase := range 3 {
		if phase > 0 {
			// The device token is in meta.db: a restarted node takes it.
			tok := g.token
			if g, err = b.startNode(name, env...); err != nil {
				return err
			}
			g.token = tok
			if err := b.attach(g); err != nil {
				return err
			}
			if err := putDocs(ctx, g, n); err != nil {
				g.stop()
				return err
			}
		}
		g.stop()
		if used[phase], err = boltUsed(file); err != nil {
			return err
		}
	}
	b.metaBytes("bbolt", "bbolt", "meta.db's pages in use (file size less free pages), server stopped", n, used)
	return nil
}

func boltUsed(file string) (int64, error) {
	db, err := boltkv.Open(file, &boltkv.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.InUse()
}

// bytesPostgres measures the tables with their indexes and TOAST
// (pg_total_relation_size) after VACUUM FULL, which leaves the live rows
// only: between vacuums PostgreSQL also holds the dead versions of rows
// that were updated.
func (b *bench) bytesPostgres(ctx context.Context, n int) error {
	pg, err := b.postgres()
	if err != nil {
		return err
	}
	url, err := pg.CreateDB("bytes")
	if err != nil {
		return err
	}
	g, err := b.startGShare("bytes-pg", append(b.s3Env("gshare-bytes-pg"), "GSHARE_META_URL="+url)...)
	if err != nil {
		return err
	}
	defer g.stop()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var size [3]int64
	for phase := range 3 {
		if phase > 0 {
			if err := putDocs(ctx, g, n); err != nil {
				return err
			}
		}
		if _, err := conn.Exec(ctx, "VACUUM FULL"); err != nil {
			return err
		}
		err := conn.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
			JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND c.relkind = 'r'`).Scan(&size[phase])
		if err != nil {
			return err
		}
	}
	b.metaBytes("postgresql", "PostgreSQL", "pg_total_relation_size of G-Share's tables (indexes and TOAST included) after VACUUM FULL", n, size)
	return nil
}

// metaBytes records how much a store grew per document and per version,
// from its sizes (measured as how says) before the n documents, after
// them, and after one more version of each.
func (b *bench) metaBytes(engine, name, how string, n int, sizes [3]int64) {
	m := MetaBytes{Engine: engine, Documents: n, PerDoc: float64(sizes[1]-sizes[0]) / float64(n),
		PerVersion: float64(sizes[2]-sizes[1]) / float64(n), How: how}
	b.res.MetaBytes = append(b.res.MetaBytes, m)
	b.logf("%-44s %8d  %.0f B per document, %.0f B per version", "metadata bytes on "+name, n, m.PerDoc, m.PerVersion)
}

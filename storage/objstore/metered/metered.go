// Package metered wraps an object store with Prometheus metrics: requests
// by operation and result, and their latency.
package metered

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gshare/storage/objstore"
)

// Store is an instrumented object store.
type Store struct {
	s   objstore.MultipartStore
	ops *prometheus.CounterVec
	dur *prometheus.HistogramVec
}

var (
	_ objstore.MultipartStore = (*Store)(nil)
	_ objstore.Pinger         = (*Store)(nil)
)

// New wraps s, registering its metrics with reg.
func New(s objstore.MultipartStore, reg prometheus.Registerer) *Store {
	m := &Store{s: s,
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gshare_objstore_requests_total",
			Help: "Object store requests by operation and result (ok, not_found, unavailable, full, error)."}, []string{"op", "result"}),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gshare_objstore_request_duration_seconds",
			Help: "Object store request latency by operation.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"op"}),
	}
	reg.MustRegister(m.ops, m.dur)
	return m
}

func (m *Store) observe(op string, start time.Time, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, objstore.ErrNotExist):
		result = "not_found"
	case errors.Is(err, objstore.ErrUnavailable):
		result = "unavailable"
	case errors.Is(err, objstore.ErrFull):
		result = "full"
	default:
		result = "error"
	}
	m.ops.WithLabelValues(op, result).Inc()
	m.dur.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (m *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	t := time.Now()
	err := m.s.Put(ctx, key, r, size)
	m.observe("put", t, err)
	return err
}

func (m *Store) Get(ctx context.Context, key string, off, n int64) (*objstore.Reader, error) {
	t := time.Now()
	r, err := m.s.Get(ctx, key, off, n)
	m.observe("get", t, err)
	return r, err
}

func (m *Store) Stat(ctx context.Context, key string) (objstore.Info, error) {
	t := time.Now()
	i, err := m.s.Stat(ctx, key)
	m.observe("stat", t, err)
	return i, err
}

func (m *Store) Delete(ctx context.Context, key string) error {
	t := time.Now()
	err := m.s.Delete(ctx, key)
	m.observe("delete", t, err)
	return err
}

func (m *Store) List(ctx context.Context, prefix string, fn func(objstore.Info) error) error {
	t := time.Now()
	err := m.s.List(ctx, prefix, fn)
	m.observe("list", t, err)
	return err
}

func (m *Store) CreateMultipart(ctx context.Context, key string) (string, error) {
	t := time.Now()
	id, err := m.s.CreateMultipart(ctx, key)
	m.observe("create_multipart", t, err)
	return id, err
}

func (m *Store) PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (objstore.Part, error) {
	t := time.Now()
	p, err := m.s.PutPart(ctx, key, id, n, r, size)
	m.observe("put_part", t, err)
	return p, err
}

func (m *Store) CompleteMultipart(ctx context.Context, key, id string, parts []objstore.Part) error {
	t := time.Now()
	err := m.s.CompleteMultipart(ctx, key, id, parts)
	m.observe("complete_multipart", t, err)
	return err
}

func (m *Store) AbortMultipart(ctx context.Context, key, id string) error {
	t := time.Now()
	err := m.s.AbortMultipart(ctx, key, id)
	m.observe("abort_multipart", t, err)
	return err
}

// Ping passes through to the wrapped store when it can ping.
func (m *Store) Ping(ctx context.Context) error {
	if p, ok := m.s.(objstore.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

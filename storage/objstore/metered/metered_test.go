package metered_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"gshare/storage/objstore"
	"gshare/storage/objstore/metered"
)

// statErr is a store whose Stat fails with err.
type statErr struct {
	objstore.MultipartStore
	err error
}

func (s statErr) Stat(context.Context, string) (objstore.Info, error) { return objstore.Info{}, s.err }

func TestResult(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{fmt.Errorf("objstore/s3: stat k: %w", objstore.ErrNotExist), "not_found"},
		{fmt.Errorf("objstore/s3: stat k: %w: %w", objstore.ErrUnavailable, errors.New("dial tcp: refused")), "unavailable"},
		{fmt.Errorf("objstore/s3: stat k: %w: %w", objstore.ErrFull, errors.New("XMinioStorageFull")), "full"},
		{errors.New("something else"), "error"},
	} {
		reg := prometheus.NewRegistry()
		m := metered.New(statErr{err: tc.err}, reg)
		m.Stat(context.Background(), "k")
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var results []string
		for _, mf := range mfs {
			if mf.GetName() != "gshare_objstore_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" {
						results = append(results, l.GetValue())
					}
				}
			}
		}
		if len(results) != 1 || results[0] != tc.want {
			t.Errorf("%v: results %q, want [%q]", tc.err, results, tc.want)
		}
	}
}

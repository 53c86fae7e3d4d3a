package uploads

import (
	"testing"
	"time"
)

// TestMTimeReachesTheVersion: the modification time recorded for an
// upload is the committed version's, whether the client's last request
// finishes it or a restart does (Recover); an upload without one gets
// the commit time.
func TestMTimeReachesTheVersion(t *testing.T) {
	w := newWorld(t)
	mt := time.Date(2024, 5, 6, 7, 8, 9, 500, time.FixedZone("ICT", 7*3600))
	data := random(4000)

	u, err := w.s.Create("ed", path(t, "/finance/ຮູບ.jpg"), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.s.SetMTime(&u, mt); err != nil {
		t.Fatal(err)
	}
	if !u.MTime.Equal(mt) || u.MTime.Location() != time.UTC {
		t.Fatalf("record's MTime %v", u.MTime)
	}
	w.send(t, u.ID, data)
	if v := w.finish(t, u.ID); !v.MTime.Equal(mt) {
		t.Errorf("finished version MTime %v, want %v", v.MTime, mt)
	}

	r, _ := w.s.Create("ed", path(t, "/finance/crash"), int64(len(data)), nil)
	if err := w.s.SetMTime(&r, mt); err != nil {
		t.Fatal(err)
	}
	w.send(t, r.ID, data)
	if n, err := w.s.Recover(t.Context()); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if n, _ := w.db.Lookup(path(t, "/finance/crash")); !n.ModTime().Equal(mt) {
		t.Errorf("recovered file's mtime %v, want %v", n.ModTime(), mt)
	}

	p, _ := w.s.Create("ed", path(t, "/finance/plain"), int64(len(data)), nil)
	w.send(t, p.ID, data)
	if v := w.finish(t, p.ID); !v.MTime.IsZero() || !v.Modified().Equal(v.Time) {
		t.Errorf("no declared time: MTime %v, Modified %v, Time %v", v.MTime, v.Modified(), v.Time)
	}
}

package filesync

import (
	"fmt"
	"io"
	"path"
	"time"
)

// meter shows the progress of one transfer on a terminal: one line,
// rewritten in place ("\r") at most every meterEvery, with the percent
// done, the speed and the time left, and cleared at the end. A transfer
// smaller than Options.MeterMin, or a client without a Meter, shows
// nothing: a nil *meter does nothing.
type meter struct {
	w     io.Writer
	label string // "↓ name"
	total int64
	done  int64 // bytes of the file there, including those from before
	from  int64 // done when this transfer started: speed counts from here
	start time.Time
	shown time.Time
	now   func() time.Time
	drawn bool
}

const meterEvery = 500 * time.Millisecond

// meter starts a meter for a transfer of total bytes of which done are
// there already (a resumed transfer).
func (c *Client) meter(arrow, key string, total, done int64) *meter {
	if c.o.Meter == nil || total < c.o.MeterMin {
		return nil
	}
	now := c.o.Now()
	return &meter{w: c.o.Meter, label: arrow + " " + path.Base(key), total: total, done: done, from: done,
		start: now, shown: now, now: c.o.Now}
}

// Write counts bytes written through the meter (downloads).
func (m *meter) Write(p []byte) (int, error) {
	m.add(int64(len(p)))
	return len(p), nil
}

func (m *meter) add(n int64) {
	if m == nil {
		return
	}
	m.set(m.done + n)
}

// set records that the first done bytes are there, and redraws the line
// if it is time.
func (m *meter) set(done int64) {
	if m == nil {
		return
	}
	m.done = max(m.done, done)
	now := m.now()
	if now.Sub(m.shown) < meterEvery {
		return
	}
	m.shown, m.drawn = now, true
	fmt.Fprintf(m.w, "\r%s  %s\x1b[K", m.label, progressLine(m.done, m.total, m.done-m.from, now.Sub(m.start)))
}

// end clears the line.
func (m *meter) end() {
	if m != nil && m.drawn {
		fmt.Fprint(m.w, "\r\x1b[K")
	}
}

// readerAt counts what is read through r (uploads read the file at
// offsets; the highest end read is how far the upload has come).
func (m *meter) readerAt(r io.ReaderAt) io.ReaderAt {
	if m == nil {
		return r
	}
	return meterReaderAt{r, m}
}

type meterReaderAt struct {
	r io.ReaderAt
	m *meter
}

func (r meterReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	r.m.set(off + int64(n))
	return n, err
}

// progressLine is "42% of 300.0 MiB, 12.5 MiB/s, 0:14 left": moved bytes
// of this transfer took elapsed.
func progressLine(done, total, moved int64, elapsed time.Duration) string {
	pct := int64(100)
	if total > 0 {
		pct = done * 100 / total
	}
	s := fmt.Sprintf("%d%% of %s", pct, size(total))
	if elapsed <= 0 || moved <= 0 {
		return s
	}
	speed := float64(moved) / elapsed.Seconds()
	left := time.Duration(float64(total-done) / speed * float64(time.Second))
	return fmt.Sprintf("%s, %s/s, %s left", s, size(int64(speed)), clock(left))
}

// size is a byte count for people: "812 B", "3.4 KiB", "300.0 MiB".
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// clock is a duration as "m:ss" or "h:mm:ss", rounded up to the second.
func clock(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

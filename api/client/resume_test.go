package client_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"gshare/api/client"
)

// TestGetIfRange: a range asked for with If-Range naming the current
// version comes as asked; naming another version, the whole file comes
// (Offset 0, the file's own SHA-256), which Get accepts instead of
// failing.
func TestGetIfRange(t *testing.T) {
	w := newEnv(t, nil)
	ctx := context.Background()
	const content = "ເອກະສານ: 0123456789"
	f, err := w.editor.Put(ctx, "/finance/a.txt", strings.NewReader(content), int64(len(content)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ifRange    string
		offset     int64
		body, hash string
	}{
		{f.SHA256, 10, content[10:], f.SHA256},
		{strings.Repeat("0", 64), 0, content, f.SHA256},
	} {
		d, err := w.editor.Get(ctx, "/finance/a.txt", &client.GetOptions{Offset: 10, IfRange: tc.ifRange})
		if err != nil {
			t.Fatalf("If-Range %s: %v", tc.ifRange, err)
		}
		b, err := io.ReadAll(d.Body)
		d.Body.Close()
		if err != nil || d.Offset != tc.offset || string(b) != tc.body || d.SHA256 != tc.hash || d.Size != int64(len(content)) {
			t.Fatalf("If-Range %s: offset %d, %q, %s, size %d, %v", tc.ifRange, d.Offset, b, d.SHA256, d.Size, err)
		}
	}
}

func TestFormatMTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1764059400, 0), "1764059400"},
		{time.Unix(1764059400, 500_000_000), "1764059400.5"},
		{time.Unix(1764059400, 123_456_789), "1764059400.123456789"},
		{time.Unix(0, 1000), "0.000001"},
	} {
		if got := client.FormatMTime(tc.t); got != tc.want {
			t.Errorf("FormatMTime(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

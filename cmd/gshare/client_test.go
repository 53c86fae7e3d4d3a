package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestCLIWaitsForLongAnswers: gshare check of a large store, a backup or
// an audit export answers after minutes; the command waits for it (it
// used to give up after one minute). Ctrl-C (the context) stops it.
func TestCLIWaitsForLongAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("waits more than a minute")
	}
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(61 * time.Second):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"summary":{"objects":3,"versions":2}}`))
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"check", "--server", srv.URL, "--token", "gsd_x"}, nil, &out, &errOut)
	if err != nil || !strings.Contains(out.String(), "3 objects, 2 versions") {
		t.Fatalf("check answered after 61 s: %v\n%s%s", err, out.String(), errOut.String())
	}
}

// TestCLIStopsOnInterrupt: Ctrl-C cancels the context, which ends a
// request still waiting for its answer.
func TestCLIStopsOnInterrupt(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	var out bytes.Buffer
	err := run(ctx, []string{"check", "--server", srv.URL, "--token", "gsd_x"}, nil, &out, &out)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second {
		t.Fatalf("check interrupted: %v after %v", err, time.Since(start))
	}
}

// TestCommandHelp: "gshare COMMAND --help" (and -h, -help, help) prints
// the command's usage, as the README says, and succeeds, without a server
// or a token.
func TestCommandHelp(t *testing.T) {
	t.Setenv("GSHARE_SERVER", "")
	t.Setenv("GSHARE_TOKEN", "")
	for _, tc := range []struct{ cmd, want string }{
		{"user", "usage: gshare user add"},
		{"keys", "usage: gshare keys status"},
		{"role", "usage: gshare role grant|revoke"},
		{"dept", "usage: gshare dept add"},
		{"audit", "usage: gshare audit export"},
	} {
		for _, h := range []string{"--help", "-h", "-help", "help"} {
			var out, errOut bytes.Buffer
			err := run(context.Background(), []string{tc.cmd, h}, strings.NewReader(""), &out, &errOut)
			if err != nil || !strings.Contains(out.String(), tc.want) {
				t.Errorf("gshare %s %s: %v\nstdout: %s\nstderr: %s", tc.cmd, h, err, out.String(), errOut.String())
			}
		}
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gshare/api/apitest"
)

// TestLogin: gshare login starts a Login Flow v2, prints the address to
// open, and once a browser session grants it prints the device token,
// alone, on stdout; the token then works. It never asks for a password.
func TestLogin(t *testing.T) {
	e := apitest.New(t, nil)
	e.User("ed", "", "")
	var out bytes.Buffer
	errOut := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(t.Context(), []string{"login", "--server", e.URL + "/", "--no-browser", "--poll-interval", "50ms"},
			strings.NewReader(""), &out, errOut)
	}()
	var page string
	re := regexp.MustCompile(`http://\S+/index\.php/login/v2/flow/\S+`)
	for deadline := time.Now().Add(10 * time.Second); page == ""; time.Sleep(20 * time.Millisecond) {
		page = re.FindString(errOut.String())
		if time.Now().After(deadline) {
			t.Fatalf("no address printed: %s", errOut.String())
		}
	}
	// The user signs in in the browser (here: a session of the API) and
	// grants access on the flow's page.
	r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"})
	var sess struct{ Token string }
	r.JSON(t, &sess)
	u, _ := url.Parse(page)
	if r := e.Do("POST", u.Path, sess.Token, "", "Content-Type", "application/x-www-form-urlencoded"); r.Status != 200 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gshare login: %v\n%s", err, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gshare login did not finish")
	}
	tok := strings.TrimSpace(out.String())
	if !strings.HasPrefix(tok, "gsd_") || strings.Contains(tok, "\n") {
		t.Fatalf("stdout %q, want the device token alone", out.String())
	}
	if r := e.Do("GET", "/api/v1/me", tok, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"ed"`) {
		t.Errorf("the token: %d %s", r.Status, r.Body)
	}
	if !strings.Contains(errOut.String(), "Signed in as ed") {
		t.Errorf("stderr: %s", errOut.String())
	}
}

// TestLoginRefusesBadUse: no server, a server that is no G-Share, and a
// time limit end with a clear message.
func TestLoginRefusesBadUse(t *testing.T) {
	t.Setenv("GSHARE_SERVER", "")
	if err := run(context.Background(), []string{"login"}, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--server") {
		t.Errorf("no server: %v", err)
	}
	if err := run(context.Background(), []string{"login", "--server", "ftp://x"}, nil, io.Discard, io.Discard); err == nil {
		t.Error("ftp server accepted")
	}
	e := apitest.New(t, nil)
	err := run(context.Background(), []string{"login", "--server", e.URL, "--no-browser", "--poll-interval", "10ms", "--timeout", "200ms"},
		nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no sign-in within the time allowed") {
		t.Errorf("timeout: %v", err)
	}
}

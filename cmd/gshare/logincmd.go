package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// loginCmd is "gshare login --server URL": it gets a device token
// through a sign-in in the browser, the Nextcloud apps' Login Flow v2
// (api/nextcloud), so it works with every sign-in method the server
// offers (password, OpenID Connect, a directory) and the command never
// sees a password. The token goes to stdout, alone, for
// `export GSHARE_TOKEN=$(gshare login --server URL)`; everything else to
// stderr.
func loginCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gshare login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", os.Getenv("GSHARE_SERVER"), "server URL (GSHARE_SERVER)")
	noBrowser := fs.Bool("no-browser", false, "only print the address to open, do not start a browser")
	every := fs.Duration("poll-interval", 2*time.Second, "how often to ask the server whether access was granted")
	wait := fs.Duration("timeout", 20*time.Minute, "how long to wait for the sign-in (the server forgets the request after 20 minutes)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gshare login --server URL [--no-browser]\n\n"+
			"Gets a device token for gshare sync and the other commands through a sign-in in the\n"+
			"browser (with a password or the organisation's sign-in, whichever the server offers),\n"+
			"and prints it on standard output:\n\n"+
			"  export GSHARE_TOKEN=$(gshare login --server https://share.example.gov.la)\n\n"+
			"The token is named after this computer on the Account page, where it can be revoked.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if len(args) > 0 && isHelp(args[0]) {
		fs.SetOutput(stdout)
		fs.Usage()
		return nil
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" || fs.NArg() > 0 {
		fs.Usage()
		return usageError{"gshare login needs --server URL and nothing else"}
	}
	base := strings.TrimSuffix(*server, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Sprintf("--server %q is not an http(s) URL", *server)}
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	hc := &http.Client{Timeout: 30 * time.Second}

	host, _ := os.Hostname()
	ua := "gshare login (" + host + ")"
	var start struct {
		Poll struct {
			Token    string `json:"token"`
			Endpoint string `json:"endpoint"`
		} `json:"poll"`
		Login string `json:"login"`
	}
	if err := postJSON(ctx, hc, base+"/index.php/login/v2", ua, nil, &start); errors.Is(err, errNotYet) {
		return fmt.Errorf("%s offers no sign-in for apps (Login Flow v2): is it a G-Share server?", base)
	} else if err != nil {
		return fmt.Errorf("start the sign-in at %s: %w", base, err)
	}
	if !strings.HasPrefix(start.Login, "http") || !strings.HasPrefix(start.Poll.Endpoint, "http") || start.Poll.Token == "" {
		return fmt.Errorf("start the sign-in at %s: the server's answer is not a login flow", base)
	}
	fmt.Fprintf(stderr, "Open this address in a browser, sign in and grant access:\n\n  %s\n\nWaiting for the sign-in (Ctrl-C to stop)...\n", start.Login)
	if !*noBrowser {
		openBrowser(start.Login)
	}
	form := url.Values{"token": {start.Poll.Token}}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		var got struct {
			LoginName   string `json:"loginName"`
			AppPassword string `json:"appPassword"`
		}
		err := postJSON(ctx, hc, start.Poll.Endpoint, ua, form, &got)
		switch {
		case err == nil && got.AppPassword != "":
			fmt.Fprintf(stderr, "Signed in as %s. Use the token with --token, or as GSHARE_TOKEN.\n", got.LoginName)
			fmt.Fprintln(stdout, got.AppPassword)
			return nil
		case err == nil, errors.Is(err, errNotYet):
		case ctx.Err() == nil:
			// A network hiccup: keep asking until the time is up.
			fmt.Fprintf(stderr, "(still waiting: %v)\n", err)
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return errors.New("no sign-in within the time allowed; run gshare login again")
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// errNotYet is the poll's 404: not granted yet.
var errNotYet = errors.New("not granted yet")

// postJSON posts form (or nothing) and decodes a JSON answer.
func postJSON(ctx context.Context, hc *http.Client, to, ua string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return errNotYet
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	return nil
}

// openBrowser asks the desktop to open u; where it cannot, the printed
// address is enough.
func openBrowser(u string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	case "darwin":
		cmd = exec.Command("open", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if cmd.Start() == nil {
		go cmd.Wait()
	}
}

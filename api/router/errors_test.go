package router_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gshare/api/router"
)

// failingBody gives some JSON, then a network error.
type failingBody struct{ r io.Reader }

func (b *failingBody) Read(p []byte) (int, error) {
	if n, _ := b.r.Read(p); n > 0 {
		return n, nil
	}
	return 0, errors.New("read tcp 10.1.2.3:8080->10.9.8.7:51234: connection reset by peer")
}

func (b *failingBody) Close() error { return nil }

// TestReadJSONMessages: a body that is not the expected JSON is 400
// bad_json with a message that names the kind of problem, and never
// repeats a network error's text (addresses, ports) or a long piece of
// the input.
func TestReadJSONMessages(t *testing.T) {
	text := func(s string) func() io.ReadCloser {
		return func() io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
	}
	for _, c := range []struct {
		name string
		body func() io.ReadCloser
		want string
	}{
		{"empty", text(""), "empty body"},
		{"syntax", text(`{"a":}`), "syntax error"},
		{"type", text(`{"a":1}`), "field a has the wrong type"},
		{"cut short", text(`{"a":"x`), "cut short"},
		{"unknown field", text(`{"b":1}`), `unknown field "b"`},
		{"long unknown field", text(`{"` + strings.Repeat("ລ", 100) + `":1}`), "unknown field"},
		{"network error", func() io.ReadCloser { return &failingBody{strings.NewReader(`{"a":"x`)} }, "could not be read"},
	} {
		for name, read := range map[string]func(http.ResponseWriter, *http.Request, any) error{
			"ReadJSON": router.ReadJSON, "ReadOptionalJSON": router.ReadOptionalJSON} {
			if name == "ReadOptionalJSON" && c.name == "empty" {
				continue // an empty body is allowed there
			}
			r := httptest.NewRequest("POST", "/", nil)
			r.Body = c.body()
			var v struct {
				A string `json:"a"`
			}
			status, code, msg := router.Response(read(httptest.NewRecorder(), r, &v))
			if status != http.StatusBadRequest || code != "bad_json" || !strings.Contains(msg, c.want) {
				t.Errorf("%s, %s: %d %s %q, want 400 bad_json with %q", name, c.name, status, code, msg, c.want)
			}
			if strings.Contains(msg, "10.") || strings.Contains(msg, "ລລ") || len(msg) > 160 {
				t.Errorf("%s, %s: the message repeats what it should not: %q", name, c.name, msg)
			}
		}
	}
}

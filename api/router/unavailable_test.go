package router_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/api/router"
	"gshare/storage/kv"
)

// An unreachable metadata store, and a commit whose outcome is unknown,
// are 503s with their own codes and Retry-After, and never carry the
// store's error text; a decision that could not be made for that reason
// is the same 503, not a 403.
func TestMetadataUnavailable(t *testing.T) {
	secret := "dial tcp 10.0.0.7:5432: connect: connection refused"
	for _, c := range []struct {
		name string
		err  error
		code string
	}{
		{"unreachable", fmt.Errorf("pgkv: gave up after 30 attempts: %w: %s", kv.ErrUnavailable, secret), "metadata_unavailable"},
		{"outcome unknown", fmt.Errorf("pgkv: connection lost during COMMIT: %w: %w: %s", kv.ErrOutcomeUnknown, kv.ErrUnavailable, secret), "outcome_unknown"},
		{"decision", router.Forbidden(fmt.Errorf("acl: policy version: %w: %w", fmt.Errorf("%w: %s", kv.ErrUnavailable, secret), acl.ErrDenied)), "metadata_unavailable"},
	} {
		w := httptest.NewRecorder()
		router.WriteError(w, &router.Request{ID: "r1"}, c.err)
		var body struct{ Code, Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if w.Code != 503 || body.Code != c.code || w.Header().Get("Retry-After") == "" || strings.Contains(w.Body.String(), "10.0.0.7") {
			t.Errorf("%s: %d %q Retry-After %q: %s", c.name, w.Code, body.Code, w.Header().Get("Retry-After"), w.Body.String())
		}
	}
	// A refusal is still a 403.
	if st, code, _ := router.Response(router.Forbidden(fmt.Errorf("acl: no: %w", acl.ErrDenied))); st != 403 || code != "forbidden" {
		t.Errorf("a refusal: %d %s", st, code)
	}
	if !errors.Is(router.Forbidden(kv.ErrUnavailable), kv.ErrUnavailable) {
		t.Error("Forbidden lost the cause")
	}
}

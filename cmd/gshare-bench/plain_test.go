package main

import "testing"

// TestLocationPath: the PATCH goes to the path of the upload's Location,
// whatever its scheme, and a Location without a path is refused.
func TestLocationPath(t *testing.T) {
	for loc, want := range map[string]string{
		"http://127.0.0.1:8080/files/abc":       "/files/abc",
		"https://share.example.gov.la/files/ab": "/files/ab",
		"/api/v1/uploads/xyz":                   "/api/v1/uploads/xyz",
		"http://127.0.0.1:8080/files/a%2Fb":     "/files/a%2Fb",
		"https://share.example.gov.la":          "",
		"%zz":                                   "",
	} {
		got, err := locationPath(loc)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("locationPath(%q) = %q, %v; want %q", loc, got, err, want)
		}
	}
}

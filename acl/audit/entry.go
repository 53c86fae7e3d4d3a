// Package audit keeps G-Share's access log: who did what to which document,
// including what was refused.
package audit

import "time"

// Results of an audited request.
const (
	Allowed = "allowed"
	Denied  = "denied"
	Error   = "error"
)

// Entry is one audited request. The API fills it; the log stores its JSON
// encoding as it was produced and hashes exactly those bytes.
type Entry struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	User      string    `json:"user,omitempty"`
	Addr      string    `json:"addr,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Dept      string    `json:"dept,omitempty"`
	Action    string    `json:"action"`
	Path      string    `json:"path,omitempty"`     // normalised document path
	RawPath   string    `json:"raw_path,omitempty"` // the request path as sent, base64
	Object    string    `json:"object,omitempty"`   // node id
	Version   int64     `json:"version,omitempty"`
	Result    string    `json:"result"`
	Status    int       `json:"status"`
	Bytes     int64     `json:"bytes,omitempty"`
	Reason    string    `json:"reason,omitempty"` // the error code of a refused or failed request
	// Note is what an anonymous visitor said of an upload through a file
	// request: their name and note, as they gave them (unverified).
	Note string `json:"note,omitempty"`
}

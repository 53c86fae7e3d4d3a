package meta

import "time"

// bucketLoginFlows holds the Nextcloud apps' pending Login Flow v2
// sign-ins (api/nextcloud), by the hash of their poll token, so that the
// app's poll may reach any node.
var bucketLoginFlows = []byte("loginflows")

// LoginFlow is a pending Login Flow v2. The device token granted to it is
// kept sealed under a key only the holders of the poll and login tokens
// can derive (api/nextcloud): the store alone never yields it.
type LoginFlow struct {
	App      string    `json:"app"`
	Addr     string    `json:"addr"`
	Expires  time.Time `json:"expires"`
	LoginKey string    `json:"login_key"` // hash of the login token, hex
	// KeyByPoll and KeyByLogin are the flow's key sealed under keys
	// derived from the poll and from the login token.
	KeyByPoll  []byte `json:"key_by_poll"`
	KeyByLogin []byte `json:"key_by_login"`
	// Set by the grant:
	User      string `json:"user,omitempty"`
	TokenID   string `json:"token_id,omitempty"`
	TokenHash string `json:"token_hash,omitempty"` // the device token's hash, hex: revoked if uncollected
	Password  []byte `json:"password,omitempty"`   // sealed under the flow's key
}

// LoginFlows calls fn with every pending login flow, by the hex hash of
// its poll token; changes are not stored.
func (db *DB) LoginFlows(fn func(map[string]LoginFlow) error) error {
	return viewTable(db, bucketLoginFlows, fn)
}

// UpdateLoginFlows calls fn with every pending login flow and stores what
// fn leaves, in one transaction (fn may run more than once). Pending
// flows are few (bounded by the server's MaxFlows) and short-lived.
func (db *DB) UpdateLoginFlows(fn func(map[string]LoginFlow) error) error {
	return updateTable(db, bucketLoginFlows, fn)
}

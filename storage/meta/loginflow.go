package meta

import (
	"fmt"
	"time"

	"gshare/storage/kv"
)

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

// UpdateLoginFlow applies fn to the pending flow under key alone (the
// app's poll, which comes every few seconds, reads one record, not the
// table) and deletes the flow unless fn keeps it; ErrNotFound when there
// is none. fn may run more than once.
func (db *DB) UpdateLoginFlow(key string, fn func(*LoginFlow) (keep bool, err error)) error {
	return db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketLoginFlows)
		var f LoginFlow
		ok, err := get(b, []byte(key), &f)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("meta: login flow: %w", ErrNotFound)
		}
		keep, err := fn(&f)
		if err != nil {
			return err
		}
		if !keep {
			return b.Delete([]byte(key))
		}
		return put(b, []byte(key), f)
	})
}

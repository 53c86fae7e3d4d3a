package meta

import (
	"gshare/storage/kv"
)

// Prop is a WebDAV dead property of a node, stored as its XML.
type Prop struct {
	Space    string `json:"space"`
	Local    string `json:"local"`
	Lang     string `json:"lang,omitempty"`
	InnerXML []byte `json:"xml"`
}

// Props returns a node's dead properties.
func (db *DB) Props(id ID) ([]Prop, error) {
	var out []Prop
	err := db.store.View(func(tx kv.Tx) error {
		_, err := get(tx.Bucket(bucketProps), id[:], &out)
		return err
	})
	return out, err
}

// UpdateProps replaces a node's dead properties with what fn makes of
// them, in one transaction (none left: deletes them).
func (db *DB) UpdateProps(id ID, fn func([]Prop) []Prop) error {
	return db.store.Update(func(tx kv.Tx) error {
		var cur []Prop
		if _, err := get(tx.Bucket(bucketProps), id[:], &cur); err != nil {
			return err
		}
		props := fn(cur)
		if len(props) == 0 {
			return tx.Bucket(bucketProps).Delete(id[:])
		}
		return put(tx.Bucket(bucketProps), id[:], props)
	})
}

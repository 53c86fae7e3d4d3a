package boltkv

import "gshare/storage/kv"

var _ kv.SequenceSetter = Bucket{}

// SetSequence sets the bucket's sequence (kv.Copy carries sequences over).
func (b Bucket) SetSequence(seq uint64) error { return mapErr(b.b.SetSequence(seq)) }

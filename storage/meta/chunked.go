package meta

// Chunked is the state of an upload that arrives as numbered chunks (the
// Nextcloud clients' chunked upload): the chunks received whole, and the
// upload as it stood at the end of the last of them (Mark). A chunk cut
// off part-way leaves parts and staging blobs beyond the mark; the next
// request puts the upload back to the mark, so the client's re-sent chunk
// starts where the cut one did. This is the one case where an upload's
// offset goes back: to the end of a chunk the client was told was stored,
// never before it.
type Chunked struct {
	// Transfer is the client's name for the upload (the folder below
	// /remote.php/dav/uploads/{user}/).
	Transfer string `json:"transfer"`
	// Deferred: the destination was not named when the upload began (the
	// Nextcloud desktop client names it only in the final MOVE); the
	// upload's Path is then a placeholder in a department whose key wraps
	// the data key until the MOVE.
	Deferred bool    `json:"deferred,omitempty"`
	Chunks   []Chunk `json:"chunks,omitempty"`
	Mark     Mark    `json:"mark"`
}

// Chunk is a chunk received whole.
type Chunk struct {
	Name   string `json:"name"` // as the client spelled it
	N      int64  `json:"n"`    // its number
	Start  int64  `json:"start"`
	Length int64  `json:"length"`
	// SHA256 of the chunk's bytes: a chunk sent again is accepted only if
	// it is the same.
	SHA256 Hash `json:"sha256"`
}

// Mark is an upload's state at the end of its last whole chunk: its first
// Parts parts, these staging blobs, this hash state, this offset. The
// staging blobs of the mark are kept (never queued for deletion) while it
// stands.
type Mark struct {
	Parts  int     `json:"parts"`
	Stages []Stage `json:"stages,omitempty"`
	Hash   []byte  `json:"hash"`
	Offset int64   `json:"offset"`
}

// End returns the offset just after the last whole chunk.
func (c *Chunked) End() int64 { return c.Mark.Offset }

// Last returns the last whole chunk, if any.
func (c *Chunked) Last() (Chunk, bool) {
	if len(c.Chunks) == 0 {
		return Chunk{}, false
	}
	return c.Chunks[len(c.Chunks)-1], true
}

// AllStages returns every staging blob an upload holds: its own and its
// chunk mark's (which the upload may go back to), each once.
func (u *Upload) AllStages() []Stage {
	out := append([]Stage(nil), u.Stages...)
	if u.Chunked != nil {
		for _, m := range u.Chunked.Mark.Stages {
			dup := false
			for _, s := range u.Stages {
				dup = dup || s.Key == m.Key
			}
			if !dup {
				out = append(out, m)
			}
		}
	}
	return out
}

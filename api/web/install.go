package web

// ShareTarget is the page a photo or PDF shared from another app (the
// Android share target) lands on: the user picks the folder.
type ShareTarget struct {
	Depts []Dept
	// ChunkSize is the tus PATCH size the uploader uses, in bytes.
	ChunkSize int64
}

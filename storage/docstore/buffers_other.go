//go:build !unix

package docstore

func allocPart(n int) []byte { return make([]byte, n) }

func releasePages([]byte) {}

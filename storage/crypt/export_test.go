package crypt

import "io"

// SetRand replaces the salt source of o, for known-answer tests.
func SetRand(o *Object, r io.Reader) { o.rand = r }

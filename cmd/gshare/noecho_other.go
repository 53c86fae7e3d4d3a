//go:build !linux

package main

import "os"

// noEcho leaves the terminal as it is: the server and its key ceremony
// run on Linux; elsewhere typed shares are shown.
func noEcho(*os.File) (restore func()) { return func() {} }

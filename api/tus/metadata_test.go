package tus

import (
	"encoding/base64"
	"testing"
)

func FuzzTusMetadata(f *testing.F) {
	f.Add("path L2ZpbmFuY2UveA==,filename eC50eHQ=")
	f.Add("path")
	f.Add(",,")
	f.Fuzz(func(t *testing.T, h string) {
		md, err := parseTusMetadata(h)
		if err != nil {
			return
		}
		for k, v := range md {
			if k == "" {
				t.Fatal("empty key accepted")
			}
			_ = base64.StdEncoding.EncodeToString([]byte(v))
		}
	})
}

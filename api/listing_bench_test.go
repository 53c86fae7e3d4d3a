package api_test

import (
	"fmt"
	"testing"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/docpath"
)

// BenchmarkTree100k lists a folder of 100,000 entries, made directly in
// meta (folders: a listing reads nodes only), through the REST API:
// the first page of 200 of a folder changed just before (by name from
// meta's name index; by size sorted from scratch), a later page (the order
// cached), a filter, and the whole listing as before paging. docs/web.md reports the figures.
func BenchmarkTree100k(b *testing.B) {
	e := apitest.New(b, nil)
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	big := docpath.Path{Dept: "finance", Names: []string{"big"}}
	if _, err := e.DB.Mkdir(big, false, "ed"); err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		if _, err := e.DB.Mkdir(big.Child(fmt.Sprintf("ໂຟນເດີ %06d report", i)), false, "ed"); err != nil {
			b.Fatal(err)
		}
	}
	get := func(b *testing.B, q string) {
		if r := e.Do("GET", "/api/v1/tree/finance/big?"+q, tok, nil, "Accept-Language", "lo"); r.Status != 200 {
			b.Fatalf("%s: %d", q, r.Status)
		}
	}
	changed := 0
	afterChange := func(q string) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				changed++
				if _, err := e.DB.Mkdir(big.Child(fmt.Sprintf("new %d", changed)), false, "ed"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				get(b, q)
			}
		}
	}
	b.Run("first page after a change", afterChange("limit=200"))
	b.Run("first page after a change, desc", afterChange("limit=200&order=desc"))
	b.Run("filter after a change", afterChange("limit=200&filter=0999"))
	b.Run("by size after a change", afterChange("limit=200&sort=size&order=desc"))
	b.Run("whole listing after a change", afterChange(""))
	b.Run("later page", func(b *testing.B) {
		for b.Loop() {
			get(b, "limit=200&page=250")
		}
	})
	b.Run("filter", func(b *testing.B) {
		for b.Loop() {
			get(b, "limit=200&filter=0999")
		}
	})
	b.Run("by size desc", func(b *testing.B) {
		for b.Loop() {
			get(b, "limit=200&sort=size&order=desc")
		}
	})
	b.Run("whole listing", func(b *testing.B) {
		for b.Loop() {
			get(b, "")
		}
	})
}

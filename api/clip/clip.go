// Package clip shortens text that clients send before it is stored or
// logged: user names tried at sign-in, User-Agent headers, request paths,
// forwarded addresses, ids taken from URLs.
//
// Without a cap, every refused anonymous request could write as much text
// into the audit log (and so into meta.db, forever) as the header and body
// limits let through: 90 requests once grew meta.db by 49 MiB. Each field
// gets a budget instead, named where it is used (api's cap* constants,
// listed in docs/security.md).
//
// # Budget
//
// A budget is in bytes of the text's JSON encoding as encoding/json writes
// it (the audit log's form): control characters, "<", ">", "&", U+2028 and
// U+2029 count six bytes (\u003c), quote and backslash two, everything else
// its UTF-8 length. So a field capped at n never takes more than n bytes
// in a record, whatever the client chose to send. Invalid UTF-8 becomes
// U+FFFD first (encoding/json would have done so, at six bytes a byte).
//
// # Where text is cut
//
// Never inside a character, and never inside an extended grapheme cluster
// (Unicode UAX #29, by github.com/rivo/uniseg): a base keeps its combining
// marks, an emoji its modifiers. For Lao (LAO.md) a cluster alone is not
// enough, because a syllable's vowel may stand before its consonant or
// after it as a letter of its own: a cut never leaves a preposed vowel
// (ເ ແ ໂ ໃ ໄ) at the end, nor separates ະ, າ, ຳ or ໆ from what precedes
// them. A cut text ends in "…" (inside the budget), so a reader knows it
// was cut.
package clip

import (
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Ellipsis marks a cut text.
const Ellipsis = "…"

// String returns s when its JSON encoding fits in max bytes, and otherwise
// its longest prefix that, followed by Ellipsis, fits, cut as the package
// comment describes. A max below the size of Ellipsis gives "" for any
// text that does not fit.
func String(s string, max int) string {
	if max < 0 {
		max = 0
	}
	// Only a prefix of at most max bytes can be kept, since every byte
	// costs at least one; look a little further to see where the next
	// cluster starts.
	window, partial := s, false
	if len(s) > max+64 {
		window, partial = s[:max+64], true
	}
	window = strings.ToValidUTF8(window, "\uFFFD")
	if !partial && jsonLen(window) <= max {
		return window
	}
	budget := max - len(Ellipsis)
	if budget < 0 {
		return ""
	}
	var ends []int // end offsets of the clusters kept, in window
	cost, end, state := 0, 0, -1
	rest := window
	for len(rest) > 0 {
		var c string
		c, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		if len(rest) == 0 && partial {
			break // the cluster may go on past the window
		}
		cost += jsonLen(c)
		if cost > budget {
			break
		}
		end += len(c)
		ends = append(ends, end)
	}
	// Lao: step back while the cut would separate a syllable.
	for len(ends) > 0 {
		cut := ends[len(ends)-1]
		last, _ := utf8.DecodeLastRuneInString(window[:cut])
		next, _ := utf8.DecodeRuneInString(window[cut:])
		if !laoPreposed(last) && !laoFollowing(next) {
			break
		}
		ends = ends[:len(ends)-1]
	}
	if len(ends) == 0 {
		return Ellipsis
	}
	return window[:ends[len(ends)-1]] + Ellipsis
}

// jsonLen is the size of s (valid UTF-8) inside a JSON string, as
// encoding/json writes it with HTML escaping on.
func jsonLen(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
			n += 2
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}

// laoPreposed reports whether r is a Lao vowel written before the
// consonant it follows in speech (ເ ແ ໂ ໃ ໄ): a text must not end with
// one.
func laoPreposed(r rune) bool { return r >= '\u0EC0' && r <= '\u0EC4' }

// laoFollowing reports whether r is a Lao sign that is a letter of its own
// but belongs to the syllable before it (ະ າ ຳ, and the repetition mark
// ໆ): a text must not be cut just before one.
func laoFollowing(r rune) bool {
	return r == '\u0EB0' || r == '\u0EB2' || r == '\u0EB3' || r == '\u0EC6'
}

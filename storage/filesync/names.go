package filesync

import (
	"strings"

	"gshare/storage/filesync/state"
)

// windowsProblem says why Windows cannot hold a name (one segment of a
// path), or returns "". The server accepts such names (they are fine on
// Linux, macOS, Android and the web), so a laptop on Windows skips them,
// and says so once (see Client.report).
func windowsProblem(name string) string {
	for _, r := range name {
		if r < 0x20 {
			return "it holds a control character"
		}
		if strings.ContainsRune(`<>:"|?*\`, r) {
			return "it holds " + string(r) + ", which Windows does not allow in names"
		}
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return "it ends with a dot or a space, which Windows drops"
	}
	// CON, PRN, AUX, NUL, COM1-9 and LPT1-9 name devices, with any
	// extension and in any case ("con.txt", "Lpt1.tar.gz"), also with
	// spaces before the dot.
	stem, _, _ := strings.Cut(name, ".")
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return stem + " is a device name on Windows"
	}
	if r := []rune(stem); len(r) == 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) && strings.ContainsRune("123456789¹²³", r[3]) {
		return stem + " is a device name on Windows"
	}
	return ""
}

// unfitNames drops from the server's view what this computer cannot hold
// (with WindowsNames: names Windows refuses, and everything below such a
// folder), reporting each once: the pass then neither downloads it nor
// deletes it on the server.
func (c *Client) unfitNames(remote map[string]state.RemoteEntry, stats *Stats) {
	if !c.o.WindowsNames {
		return
	}
	for _, k := range sortedKeys(remote) {
		if _, ok := remote[k]; !ok {
			continue // below a folder already dropped
		}
		seg := k[strings.LastIndexByte(k, '/')+1:]
		why := windowsProblem(seg)
		if why == "" {
			continue
		}
		about := remote[k].SHA256
		if remote[k].Dir {
			about = "folder"
		}
		c.report(stats, "windows:"+k, about, "✗ %s: on the server, but not synced here: %s; rename it on the server (or from a Mac, Linux or the web app)", k, why)
		for _, p := range subtree(remote, k) {
			delete(remote, p)
		}
	}
}

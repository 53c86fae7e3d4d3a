package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/objstore/miniotest"
)

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// focusedJS describes the focused element, for failure messages.
const focusedJS = `(e => e ? e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().replace(/\s+/g, ".") : "") +
  (e.closest("tr[data-name]") ? " in " + e.closest("tr[data-name]").dataset.name : "") : "none")(document.activeElement)`

// press sends a key (kb constants, or text) to the focused element, as
// a keyboard would: no mouse, no script.
func press(keys string, opts ...chromedp.KeyOption) chromedp.Action[chromedp.Void] {
	return chromedp.KeyEvent(keys, opts...)
}

var shift = chromedp.KeyModifiers(chromedp.ModifierShift)

// pressUntil presses key until the focused element matches the CSS
// selector sel (not at all if it does already), at most 60 times, and
// fails saying where focus went.
func pressUntil(key, sel string, opts ...chromedp.KeyOption) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var went []string
		for i := range 61 {
			if i > 0 {
				if _, err := press(key, opts...)(ctx, t); err != nil {
					return err
				}
			}
			ok, err := chromedp.Evaluate[bool](`Boolean(document.activeElement && document.activeElement.matches(`+jsString(sel)+`))`)(ctx, t)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			d, _ := chromedp.Evaluate[string](focusedJS)(ctx, t)
			went = append(went, d)
		}
		return fmt.Errorf("%q not reached with key %q; focus went: %s", sel, key, strings.Join(went, " → "))
	})
}

// steps runs actions in turn as one.
func steps(as ...chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, a := range as {
			if _, err := a(ctx, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// focusShown fails unless the focused element is sel and shows a focus
// ring (its own outline, or its picker label's for a file input).
func focusShown(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		// A dialog's close event, which gives the focus back, comes a
		// moment after the dialog closes: wait for it, briefly.
		var ok bool
		for end := time.Now().Add(3 * time.Second); !ok && time.Now().Before(end); {
			var err error
			ok, err = chromedp.Evaluate[bool](`(() => {
  const e = document.activeElement;
  if (!e || !e.matches(`+jsString(sel)+`) || !e.matches(":focus-visible")) return false;
  const box = getComputedStyle(e.closest(".picker") || e);
  return box.outlineStyle !== "none" && parseFloat(box.outlineWidth) >= 2;
})()`)(ctx, t)
			if err != nil {
				return err
			}
			if !ok {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !ok {
			d, _ := chromedp.Evaluate[string](focusedJS)(ctx, t)
			return fmt.Errorf("focus on %s, with a visible ring, wanted; focused: %s", sel, d)
		}
		return nil
	})
}

// TestKeyboard uploads, renames, shares, deletes and restores with the
// keyboard alone — Tab, Shift+Tab, arrows, Enter, Space, Escape — in Lao:
// no mouse event and no script click. The file chooser the upload control
// opens is intercepted (as a user picking a file). Every control reached
// shows a focus ring, and focus comes back to the row's menu button when
// a dialog closes, and to the renamed file after the reload. Against a
// real MinIO.
func TestKeyboard(t *testing.T) {
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	tok := e.User("mgr", "finance", acl.RoleManager)
	for _, f := range []string{"/finance/Budget 2027.xlsx", "/finance/ບົດລາຍງານ ປະຈຳປີ.pdf"} {
		if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath(f), tok, "ເນື້ອໃນ "+f); r.Status != 201 {
			t.Fatalf("fixture %s: %d %s", f, r.Status, r.Body)
		}
	}
	tab := b.user()
	login(t, tab, e.URL, "mgr", "pw-mgr")
	folder := e.URL + "/app/files/finance/?lang=lo"

	// Upload: Tab to "upload files", Space opens the file chooser, which
	// CDP intercepts and answers with the file.
	chooser := make(chan *page.EventFileChooserOpened, 4)
	if err := chromedp.Listen(tab, func(ev any) {
		if ev, ok := ev.(*page.EventFileChooserOpened); ok {
			select {
			case chooser <- ev:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	do(t, tab, "intercept the file chooser", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true})
		return err
	}))
	data := []byte(strings.Repeat("ແຜນງານ 2027 ", 40000))
	file := filepath.Join(t.TempDir(), "ແຜນງານ.txt")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, tab, "Tab to the upload control and press Space",
		chromedp.Navigate(folder), poll(`document.readyState === "complete"`),
		pressUntil(kb.Tab, "#upload-input"), focusShown("#upload-input"),
		press(" "))
	var ev *page.EventFileChooserOpened
	select {
	case ev = <-chooser:
	case <-time.After(15 * time.Second):
		t.Fatal("Space on the upload control opened no file chooser")
	}
	do(t, tab, "choose the file and upload it",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{file}, BackendNodeID: ev.BackendNodeID})
			return err
		}),
		poll(`document.querySelector("#upload-list li.done") !== null`),
		poll(`document.readyState === "complete" && document.querySelector('tr[data-name="ແຜນງານ.txt"]') !== null`))
	if r := e.Do("GET", "/api/v1/files"+apitest.EscapePath("/finance/ແຜນງານ.txt"), tok, nil); r.Status != 200 || sha256.Sum256(r.Body) != sha256.Sum256(data) {
		t.Fatalf("uploaded by keyboard: %d, %d bytes", r.Status, len(r.Body))
	}

	// Rename: Tab into the list, arrows to the row, Tab to its menu
	// button, Enter opens the menu, arrows to "rename", Enter; the name
	// is typed and Enter saves. After the reload, the renamed row has
	// the focus.
	const oldName, newName = "Budget 2027.xlsx", "ງົບປະມານ 2027.xlsx"
	row := func(name string) string { return `tr[data-name=` + jsString(name) + `]` }
	openMenuItem := func(name, item string) chromedp.Action[chromedp.Void] {
		return steps(
			pressUntil(kb.Tab, "#listing tbody tr"), focusShown("#listing tbody tr"),
			pressUntil(kb.ArrowDown, row(name)),
			pressUntil(kb.Tab, row(name)+" summary"), focusShown(row(name)+" summary"),
			press(kb.Enter), poll(`document.querySelector(`+jsString(row(name)+" details")+`).open`),
			pressUntil(kb.ArrowDown, row(name)+" [role=menuitem]."+item), focusShown(row(name)+" [role=menuitem]."+item),
			press(kb.Enter),
		)
	}
	do(t, tab, "rename by keyboard",
		chromedp.Navigate(folder), poll(`document.readyState === "complete"`),
		openMenuItem(oldName, "rename"),
		poll(`document.getElementById("name-dialog").open && document.activeElement.id === "name-input"`),
		press(kb.End), press(strings.Repeat(kb.Backspace, len([]rune(oldName)))),
		press(newName), press(kb.Enter),
		poll(`document.readyState === "complete" && document.querySelector(`+jsString(row(newName))+`) !== null`),
		poll(`document.activeElement === document.querySelector(`+jsString(row(newName))+`)`))
	if r := e.Do("GET", "/api/v1/files"+apitest.EscapePath("/finance/"+newName), tok, nil); r.Status != 200 {
		t.Fatalf("renamed by keyboard: %d", r.Status)
	}

	// Share the renamed file: from its row (focused), Tab to the menu,
	// "share", Tab to "create link", Enter; Escape closes the dialog and
	// the focus is back on the row's menu button.
	do(t, tab, "share by keyboard",
		pressUntil(kb.Tab, row(newName)+" summary"), focusShown(row(newName)+" summary"),
		press(kb.Enter), poll(`document.querySelector(`+jsString(row(newName)+" details")+`).open`),
		pressUntil(kb.ArrowDown, row(newName)+" [role=menuitem].share"),
		press(kb.Enter), poll(`document.getElementById("share-dialog").open`),
		pressUntil(kb.Tab, "#share-create"), focusShown("#share-create"),
		press(kb.Enter), poll(`document.getElementById("share-url").value !== ""`))
	link := eval[string](t, tab, `document.getElementById("share-url").value`)
	do(t, tab, "close the dialog with Escape",
		press(kb.Escape), poll(`!document.getElementById("share-dialog").open`),
		focusShown(row(newName)+" summary"))
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(got) != "ເນື້ອໃນ /finance/"+oldName {
		t.Fatalf("link made by keyboard %s: %d %q", link, res.StatusCode, got)
	}

	// Tab in an open menu closes it and goes on past the list (the other
	// rows' controls and the menu's items are not Tab stops).
	do(t, tab, "Tab out of a menu",
		press(kb.Enter), poll(`document.querySelector(`+jsString(row(newName)+" details")+`).open && document.activeElement.getAttribute("role") === "menuitem"`),
		press(kb.End), poll(`document.activeElement.matches(".delete")`),
		press(kb.Tab), poll(`!document.querySelector(`+jsString(row(newName)+" details")+`).open && !document.activeElement.closest("#listing")`),
		press(kb.Tab, shift), focusShown(row(newName)+" summary"))

	// A dialog cancelled with Escape gives the focus back too.
	do(t, tab, "rename cancelled",
		press(kb.Enter), poll(`document.querySelector(`+jsString(row(newName)+" details")+`).open`),
		pressUntil(kb.ArrowDown, row(newName)+" [role=menuitem].rename"),
		press(kb.Enter), poll(`document.getElementById("name-dialog").open`),
		press(kb.Escape), poll(`!document.getElementById("name-dialog").open`),
		focusShown(row(newName)+" summary"))

	// Delete the uploaded file (menu, confirmation by Enter): the focus
	// is on the next row after the reload. Shift+Tab back up to the
	// trash link, Enter, Tab to the entry's "restore", Enter: it is back.
	do(t, tab, "delete by keyboard",
		chromedp.Navigate(folder), poll(`document.readyState === "complete"`),
		openMenuItem("ແຜນງານ.txt", "delete"),
		poll(`document.getElementById("confirm-dialog").open && document.activeElement.id === "confirm-ok"`),
		press(kb.Enter),
		poll(`document.readyState === "complete" && document.querySelector(`+jsString(row("ແຜນງານ.txt"))+`) === null`),
		// The focus is on the row that took its place.
		poll(`document.activeElement.matches("#listing tbody tr")`))
	do(t, tab, "to the trash and restore by keyboard",
		pressUntil(kb.Tab, "#listing tbody tr"),
		pressUntil(kb.Tab, "#trash-link", shift), focusShown("#trash-link"),
		press(kb.Enter), poll(`location.pathname === "/app/trash/finance" && document.readyState === "complete"`),
		pressUntil(kb.Tab, `#trash `+row("ແຜນງານ.txt")+` button.trash-restore`), focusShown(`#trash `+row("ແຜນງານ.txt")+` button.trash-restore`),
		press(kb.Enter), poll(`document.getElementById("empty") !== null`),
		// The trash is empty now: the focus is on the page's content.
		poll(`document.activeElement.id === "main"`))
	if r := e.Do("GET", "/api/v1/files"+apitest.EscapePath("/finance/ແຜນງານ.txt"), tok, nil); r.Status != 200 || sha256.Sum256(r.Body) != sha256.Sum256(data) {
		t.Fatalf("restored by keyboard: %d, %d bytes", r.Status, len(r.Body))
	}
}

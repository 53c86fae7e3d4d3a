package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"gshare/storage/crypt"
)

// Errors of the key operations an administrator starts.
var (
	// ErrMasterFromCommand means the master key comes from a command (a
	// KMS or HSM): G-Share cannot rotate it; the key service does.
	ErrMasterFromCommand = errors.New("the master key comes from a command; rotate it in the key service")
	// ErrUnconfirmed means the previous master rotation is not confirmed
	// yet (its old key file is still there).
	ErrUnconfirmed = errors.New("the previous master key rotation is not confirmed")
	// ErrNoOldMaster means there is no old master key file to confirm.
	ErrNoOldMaster = errors.New("no old master key file")
)

// Admin carries out the key operations administrators start (through the
// API): a department key rotation, re-wrapping in the background and
// resumed after a restart; a master key rotation of meta.db and the key
// files, safe against a crash; its confirmation; and shredding a
// department.
type Admin struct {
	Ring *Ring
	// Master returns the current master key; SetMaster switches the
	// process to a new one after a rotation.
	Master    func() crypt.Key
	SetMaster func(crypt.Key)
	// MasterFile is where the master key lives; "" when it comes from a
	// command (a KMS), which G-Share cannot rotate.
	MasterFile string
	// WrappedValues are the values to re-wrap on a master rotation.
	WrappedValues []WrappedValue
	// Background bounds long jobs (a rotation): it outlives the request
	// and ends at shutdown.
	Background context.Context
	// AbortMultipart aborts a shredded department's unfinished uploads;
	// Collect deletes its objects.
	AbortMultipart func(ctx context.Context, object, id string) error
	Collect        func(ctx context.Context) (int, error)
	// Done records a finished background job (the audit log).
	Done func(action, dept string)
	Log  *slog.Logger

	mu sync.Mutex // one master rotation at a time
}

func (a *Admin) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// OldMasterFile returns the old master key file kept since the last
// rotation, or "".
func (a *Admin) OldMasterFile() string {
	if a.MasterFile == "" {
		return ""
	}
	if _, err := os.Stat(a.MasterFile + ".old"); err == nil {
		return a.MasterFile + ".old"
	}
	return ""
}

// RotateDept starts a rotation of a department's key and returns the new
// key version; its data keys are re-wrapped in the background.
func (a *Admin) RotateDept(dept string) (uint32, error) {
	v, err := a.Ring.BeginRotation(dept)
	if err != nil {
		return 0, err
	}
	go a.RunRotation(dept)
	return v, nil
}

// RunRotation finishes a department key rotation, logging the outcome: at
// start, for rotations a shutdown interrupted.
func (a *Admin) RunRotation(dept string) {
	err := a.Ring.Rotate(a.Background, dept, nil)
	switch {
	case err == nil:
		a.log().Info("department key rotated; old key versions deleted", "dept", dept)
		if a.Done != nil {
			a.Done("key.rotated", dept)
		}
	case errors.Is(err, context.Canceled):
		a.log().Info("key rotation paused by shutdown; it resumes at the next start", "dept", dept)
	default:
		a.log().Error("key rotation failed; it resumes at the next start", "dept", dept, "err", err)
	}
}

// RotateMaster re-wraps every department key under a new master key and
// puts the new key file in place, keeping the old one (returned) as .old
// until ConfirmMaster.
func (a *Admin) RotateMaster() (string, error) {
	if a.MasterFile == "" {
		return "", ErrMasterFromCommand
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.OldMasterFile() != "" {
		return "", ErrUnconfirmed
	}
	current, next := a.Master(), crypt.NewKey()
	if err := StageMaster(a.MasterFile, next); err != nil {
		return "", err
	}
	if err := a.Ring.RotateMaster(next, current, a.WrappedValues); err != nil {
		os.Remove(a.MasterFile + ".new")
		return "", err
	}
	old, err := CommitMaster(a.MasterFile)
	if err != nil {
		// meta.db already uses the new key; the next start finishes the
		// renames (RecoverMaster).
		a.log().Error("master key rotated in meta.db but the key files were not renamed; the next start completes it", "err", err)
	}
	a.SetMaster(next)
	return old, nil
}

// ConfirmMaster deletes the old master key file once the operator has a
// copy of it.
func (a *Admin) ConfirmMaster() error {
	old := a.OldMasterFile()
	if old == "" {
		return ErrNoOldMaster
	}
	if err := os.Remove(old); err != nil {
		return fmt.Errorf("keys: confirm master rotation: %w", err)
	}
	return nil
}

// Shred destroys a department's keys: its documents are unreadable at
// once; its unfinished uploads are aborted and its objects deleted in the
// background.
func (a *Admin) Shred(ctx context.Context, dept string) error {
	mp, err := a.Ring.Shred(dept)
	if err != nil {
		return err
	}
	for object, id := range mp {
		if err := a.AbortMultipart(ctx, object, id); err != nil {
			a.log().Warn("could not abort a shredded department's multipart upload; S3 lifecycle rules will", "object", object, "err", err)
		}
	}
	go func() {
		if _, err := a.Collect(a.Background); err != nil {
			a.log().Warn("deleting a shredded department's objects stopped; the janitor continues", "err", err)
		}
	}()
	return nil
}

package service

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/tailor-dev/tailor/features"
)

// TestBackupAndRestore takes a backup while the service runs, writes more,
// and checks that the restored directory opens with exactly what was
// acknowledged before the backup.
func TestBackupAndRestore(t *testing.T) {
	s, err := Open(t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ingest := func(id, user string) {
		t.Helper()
		if _, err := s.Ingest([]features.Event{{ID: id, User: user, Type: features.View, Item: "i1", TS: s.now()}}); err != nil {
			t.Fatal(err)
		}
	}
	ingest("e1", "before")
	backup := filepath.Join(t.TempDir(), "backups", "b1")
	n, err := s.Backup(backup)
	if err != nil || n <= 0 {
		t.Fatalf("Backup = %d, %v", n, err)
	}
	if _, err := s.Backup(backup); !errors.Is(err, ErrBackupExists) {
		t.Errorf("a second Backup to the same directory = %v, want ErrBackupExists", err)
	}
	ingest("e2", "after")

	restored := filepath.Join(t.TempDir(), "restored")
	if err := Restore(backup, restored); err != nil {
		t.Fatal(err)
	}
	if err := Restore(backup, restored); err == nil {
		t.Errorf("Restore into a directory that is not empty succeeded")
	}
	if err := Restore(t.TempDir(), filepath.Join(t.TempDir(), "x")); err == nil {
		t.Errorf("Restore from a directory that is no backup succeeded")
	}
	r, err := Open(restored, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if p, err := r.Store().Get("before"); err != nil || p.Events != 1 {
		t.Errorf("restored Get(before) = %+v, %v; want its event", p, err)
	}
	if _, err := r.Store().Get("after"); !errors.Is(err, features.ErrNotFound) {
		t.Errorf("restored Get(after) = %v; want ErrNotFound: written after the backup", err)
	}
	if m, _ := filepath.Glob(filepath.Join(backup, "MANIFEST-*")); len(m) == 0 {
		t.Errorf("the backup lost its MANIFEST while restored from")
	}
}

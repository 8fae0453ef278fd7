package service

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
)

// ErrBackupExists is returned by Backup when its destination exists.
var ErrBackupExists = errors.New("service: the backup's directory exists")

// Backup writes a consistent copy of the data directory into dir, which
// must not exist, while the service goes on serving: a Pebble checkpoint
// (hard links to the immutable tables where the file system allows, copies
// otherwise) with the write-ahead log flushed first. It holds every write
// acknowledged before the call; state kept only in memory (the decision log
// awaiting labels, the budget reservations in flight) is not in it, as after
// a crash. It returns the bytes the backup takes.
func (s *Service) Backup(dir string) (int64, error) {
	if _, err := os.Lstat(dir); err == nil {
		return 0, ErrBackupExists
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return 0, fmt.Errorf("service: cannot make the backup's parent directory: %w", err)
	}
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return 0, fmt.Errorf("service: cannot write the backup: %w", err)
	}
	return dirBytes(dir)
}

// Restore copies the backup in from into the data directory to, which must
// not exist or be empty, ready for Open. The service must not be running on
// to.
func Restore(from, to string) error {
	if m, _ := filepath.Glob(filepath.Join(from, "MANIFEST-*")); len(m) == 0 {
		return fmt.Errorf("service: %s is not a backup: it holds no Pebble MANIFEST", from)
	}
	if entries, err := os.ReadDir(to); err == nil && len(entries) > 0 {
		return fmt.Errorf("service: cannot restore into %s: it is not empty", to)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return copyFile(path, target)
	})
}

// copyFile copies src to dst and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dirBytes returns the bytes of the files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}

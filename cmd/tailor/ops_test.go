package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRestoreAndProbe runs the operator's round trip on real
// processes: a backup through the API while serving, a restore into a new
// data directory with the command, a server started on it with the data,
// and the health probe a container runs.
func TestBackupRestoreAndProbe(t *testing.T) {
	bin := buildTailor(t)
	backups := filepath.Join(t.TempDir(), "backups")
	p := startTailor(t, bin, t.TempDir(), "--backup-dir", backups)
	p.post(t, "/v1/events", `[{"id":"b1","user":"kept","type":"view","item":"a"}]`)
	if out := p.post(t, "/v1/admin/backup", `{"name":"first"}`); !strings.Contains(out, `"name":"first"`) {
		t.Fatalf("backup answered %s", out)
	}
	p.post(t, "/v1/events", `[{"id":"b2","user":"later","type":"view","item":"a"}]`)
	if out, err := exec.Command(bin, "probe", p.base+"/readyz").CombinedOutput(); err != nil {
		t.Errorf("probe of a ready server: %v\n%s", err, out)
	}
	if err := exec.Command(bin, "probe", p.base+"/no-such-route").Run(); err == nil {
		t.Errorf("probe of a 404 route exited 0")
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := exec.Command(bin, "restore", "--from", filepath.Join(backups, "first"), "--data", restored).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if err := exec.Command(bin, "restore", "--from", filepath.Join(backups, "first"), "--data", restored).Run(); err == nil {
		t.Errorf("a restore into a data directory that is not empty exited 0")
	}
	r := startTailor(t, bin, restored)
	if n := r.userEvents(t, "kept"); n != 1 {
		t.Errorf("restored server: user kept has %d events, want 1", n)
	}
	if n := r.userEvents(t, "later"); n != 0 {
		t.Errorf("restored server: user later has %d events, want 0 (written after the backup)", n)
	}
}

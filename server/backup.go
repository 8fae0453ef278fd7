package server

import (
	"errors"
	"path/filepath"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/internal/ident"
	"github.com/tailor-dev/tailor/service"
)

// handleBackup answers POST /v1/admin/backup {"name":...}: a consistent copy
// of the data directory, taken while serving, into Options.BackupDir/name
// (see service.Backup). The name follows the id rule; a name taken gets
// 409, and a server without a backup directory 404.
func (s *Server) handleBackup(ctx *fasthttp.RequestCtx) {
	if s.opts.BackupDir == "" {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound,
			message: "backups are off: start the server with --backup-dir", index: -1})
		return
	}
	p := s.parsers.Get()
	defer s.parsers.Put(p)
	v, ok := parseBody(ctx, p)
	if !ok {
		return
	}
	f := fields{v: v, code: codeInvalidRequest}
	f.known("a backup request", "name")
	name := f.str("name", ident.MaxBytes)
	if f.err == nil {
		if p := ident.Problem(name); p != "" {
			f.fail("name", p)
		}
	}
	if f.err != nil {
		writeError(ctx, f.err)
		return
	}
	dir := filepath.Join(s.opts.BackupDir, name)
	start := time.Now()
	n, err := s.svc.Backup(dir)
	switch {
	case errors.Is(err, service.ErrBackupExists):
		writeError(ctx, &apiError{status: fasthttp.StatusConflict, code: "exists", field: "name",
			message: "a backup with this name exists", index: -1})
		return
	case err != nil:
		s.logger.Printf("backup: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			message: "the backup could not be written; see the server's log", index: -1})
		return
	}
	writeJSON(ctx, struct {
		Name   string `json:"name"`
		Path   string `json:"path"`
		Bytes  int64  `json:"bytes"`
		TookMS int64  `json:"took_ms"`
	}{name, dir, n, time.Since(start).Milliseconds()})
}

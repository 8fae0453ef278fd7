package server

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
)

// consoleFiles are the operator console's pages: plain HTML, CSS and
// JavaScript, built into the binary. They hold no data; the page asks the
// operator for a token and calls the JSON API with it.
//
//go:embed console
var consoleFiles embed.FS

// consoleCSP is the console's Content-Security-Policy: its own script and
// style files only (no inline script or style), API calls to this origin only,
// and no framing.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleAsset is one embedded file, ready to serve.
type consoleAsset struct {
	body        []byte
	contentType string
	etag        string // strong validator: a hash of the body
}

// consoleAssets returns the embedded files by their URL path, with the page
// also at /console and /console/. It reads the embedded tree once.
var consoleAssets = sync.OnceValue(func() map[string]*consoleAsset {
	assets := map[string]*consoleAsset{}
	err := fs.WalkDir(consoleFiles, "console", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := consoleFiles.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		assets["/"+name] = &consoleAsset{body: body, contentType: consoleContentType(name),
			etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("server: cannot read the embedded console: " + err.Error()) // the tree is built in
	}
	if index := assets["/console/index.html"]; index != nil {
		assets["/console"], assets["/console/"] = index, index
	}
	return assets
})

// consoleContentType returns the Content-Type of an embedded file by its
// extension; the console holds only these kinds.
func consoleContentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}

// handleConsole serves the operator console's pages under /console: the
// page at /console and /console/, its assets under /console/, with a strict
// Content-Security-Policy. Assets are revalidated on every load (no-cache with
// an ETag), so that a new binary's console is never mixed with an old one's.
// An unknown path gets a JSON 404 like the rest of the API.
func (s *Server) handleConsole(ctx *fasthttp.RequestCtx) {
	a := consoleAssets()[string(ctx.Path())]
	if a == nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound,
			message: "no such console page: " + string(ctx.Path()), index: -1})
		return
	}
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	if etagMatches(string(ctx.Request.Header.Peek("If-None-Match")), a.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	h.SetContentType(a.contentType)
	ctx.SetBody(a.body)
}

// etagMatches reports whether an If-None-Match header names etag (or is "*").
func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}

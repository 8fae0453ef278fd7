package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/valyala/fasthttp"
)

// Scope is what a token may do. Every route needs one scope (see the API
// reference); the bid route, its notices and the health checks need none.
type Scope uint8

// Scopes.
const (
	ScopeNone      Scope = 0
	ScopeIngest    Scope = 1 << iota // POST /v1/events
	ScopeRecommend                   // POST /v1/recommend
	ScopeRead                        // every GET of users, items, audiences, triggers, segments, campaigns, experiments
	ScopeAdmin                       // every other write and delete, segment refresh, /metrics; implies read
)

var scopeNames = []struct {
	name  string
	scope Scope
}{{"ingest", ScopeIngest}, {"recommend", ScopeRecommend}, {"read", ScopeRead}, {"admin", ScopeAdmin}}

func (s Scope) String() string {
	var names []string
	for _, n := range scopeNames {
		if s&n.scope != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Auth is a set of API tokens and their scopes. The zero value and nil
// admit nobody; a Server without Auth does not check tokens at all.
type Auth struct {
	tokens []authToken
}

type authToken struct {
	name   string
	sum    [sha256.Size]byte // SHA-256 of the token
	scopes Scope
}

// authFile is the JSON form of an auth file.
type authFile struct {
	Tokens []struct {
		Name   string   `json:"name"`
		Token  string   `json:"token"`
		SHA256 string   `json:"sha256"`
		Scopes []string `json:"scopes"`
	} `json:"tokens"`
}

// minTokenBytes is the shortest token accepted: 128 bits of hex or base64
// text at the least.
const minTokenBytes = 16

// ParseAuth reads an auth file:
//
//	{"tokens":[{"name":"shop-site","token":"...","scopes":["ingest","recommend"]},
//	           {"name":"ops","sha256":"<hex of SHA-256 of the token>","scopes":["admin"]}]}
//
// Each token is given either as "token" or as "sha256", so that the file
// need hold no secret. Names must be unique and tokens distinct.
func ParseAuth(data []byte) (*Auth, error) {
	var f authFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("auth: cannot read the tokens file: %w", err)
	}
	if len(f.Tokens) == 0 {
		return nil, fmt.Errorf("auth: the tokens file lists no tokens")
	}
	a := &Auth{}
	names := map[string]bool{}
	sums := map[[sha256.Size]byte]bool{}
	for i, t := range f.Tokens {
		where := fmt.Sprintf("tokens[%d]", i)
		if t.Name == "" || names[t.Name] {
			return nil, fmt.Errorf("auth: %s: name is required and must be unique", where)
		}
		names[t.Name] = true
		at := authToken{name: t.Name}
		switch {
		case t.Token != "" && t.SHA256 != "":
			return nil, fmt.Errorf("auth: %s (%s): give token or sha256, not both", where, t.Name)
		case t.Token != "":
			if len(t.Token) < minTokenBytes {
				return nil, fmt.Errorf("auth: %s (%s): token is shorter than %d bytes", where, t.Name, minTokenBytes)
			}
			at.sum = sha256.Sum256([]byte(t.Token))
		case t.SHA256 != "":
			b, err := hex.DecodeString(t.SHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("auth: %s (%s): sha256 must be 64 hex digits", where, t.Name)
			}
			copy(at.sum[:], b)
		default:
			return nil, fmt.Errorf("auth: %s (%s): token or sha256 is required", where, t.Name)
		}
		if sums[at.sum] {
			return nil, fmt.Errorf("auth: %s (%s): the same token is listed twice", where, t.Name)
		}
		sums[at.sum] = true
		if len(t.Scopes) == 0 {
			return nil, fmt.Errorf("auth: %s (%s): scopes are required", where, t.Name)
		}
		for _, s := range t.Scopes {
			sc := parseScope(s)
			if sc == ScopeNone {
				return nil, fmt.Errorf("auth: %s (%s): unknown scope %q (ingest, recommend, read, admin)", where, t.Name, s)
			}
			at.scopes |= sc
		}
		if at.scopes&ScopeAdmin != 0 {
			at.scopes |= ScopeRead
		}
		a.tokens = append(a.tokens, at)
	}
	return a, nil
}

func parseScope(s string) Scope {
	for _, n := range scopeNames {
		if n.name == s {
			return n.scope
		}
	}
	return ScopeNone
}

// LoadAuth reads the auth file at path.
func LoadAuth(path string) (*Auth, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return ParseAuth(data)
}

// Len returns the number of tokens.
func (a *Auth) Len() int {
	if a == nil {
		return 0
	}
	return len(a.tokens)
}

// scopesOf returns the scopes of the token, ScopeNone for an unknown one. It
// compares the token's hash with every entry in constant time, so the time
// taken tells nothing of which entry, if any, matched.
func (a *Auth) scopesOf(token []byte) Scope {
	sum := sha256.Sum256(token)
	var got Scope
	for i := range a.tokens {
		t := &a.tokens[i]
		match := subtle.ConstantTimeCompare(sum[:], t.sum[:])
		got |= t.scopes & Scope(-match)
	}
	return got
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(ctx *fasthttp.RequestCtx) ([]byte, bool) {
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(string(h[:len(prefix)]), prefix) {
		return nil, false
	}
	return bytes.TrimSpace(h[len(prefix):]), true
}

// authorize answers 401 or 403 and returns false unless the request may use
// a route that needs scope.
func (s *Server) authorize(ctx *fasthttp.RequestCtx, need Scope) bool {
	a := s.auth.Load()
	if a == nil || need == ScopeNone {
		return true
	}
	tok, ok := bearer(ctx)
	if !ok && (need == ScopeIngest || need == ScopeRecommend) {
		// A page's beacon cannot set headers: the browser routes also take
		// the token as the access_token query parameter (RFC 6750, 2.3).
		tok = ctx.QueryArgs().Peek("access_token")
		ok = len(tok) > 0
	}
	if !ok {
		s.m.authFailures[0].Inc()
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="tailor"`)
		writeError(ctx, &apiError{status: fasthttp.StatusUnauthorized, code: "unauthorized",
			message: "this route needs a token: send Authorization: Bearer TOKEN", index: -1})
		return false
	}
	got := a.scopesOf(tok)
	if got == ScopeNone {
		s.m.authFailures[0].Inc()
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="tailor", error="invalid_token"`)
		writeError(ctx, &apiError{status: fasthttp.StatusUnauthorized, code: "unauthorized",
			message: "the token is not known", index: -1})
		return false
	}
	if got&need == 0 {
		s.m.authFailures[1].Inc()
		writeError(ctx, &apiError{status: fasthttp.StatusForbidden, code: "forbidden",
			message: "the token lacks the " + need.String() + " scope this route needs", index: -1})
		return false
	}
	return true
}

// SetAuth replaces the tokens; nil turns token checks off. Requests already
// authorized finish with the old tokens.
func (s *Server) SetAuth(a *Auth) { s.auth.Store(a) }

// ParsePrefixes parses a comma-separated list of CIDR prefixes or single
// addresses, such as "10.0.0.0/8,192.0.2.7".
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR prefix nor an address", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix: %v", s, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// bidAllowed reports whether the request's peer may bid: always when no
// list is set.
func (s *Server) bidAllowed(ctx *fasthttp.RequestCtx) bool {
	if len(s.opts.BidAllow) == 0 {
		return true
	}
	ip, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.opts.BidAllow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

package server

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/internal/ident"
)

// routeID names an endpoint, for dispatch and for metric labels.
type routeID int

const (
	routeOther routeID = iota
	routeEvents
	routeRecommend
	routeExperiments
	routeExperiment
	routeItems
	routeItem
	routeUser
	routeMetrics
	routeHealth
	routeUsers
	routeSegments
	routeSegmentsRefresh
	routeAudiences
	routeAudience
	routeAudienceUsers
	routeTriggers
	routeBid
	routeWin
	routeBilling
	routeLoss
	routeCampaigns
	routeCampaign
	routeCampaignStats
	routeReady
	routeOpenAPI
	routeConsole
	routeBackup
	numRoutes
)

var routeNames = [numRoutes]string{"other", "events", "recommend", "experiments", "experiment", "items", "item", "user", "metrics", "healthz",
	"users", "segments", "segments_refresh", "audiences", "audience", "audience_users", "triggers",
	"bid", "win", "billing", "loss", "campaigns", "campaign", "campaign_stats", "readyz", "openapi", "console", "backup"}

func (r routeID) name() string { return routeNames[r] }

// scope returns what a token needs to call r with method: reads need
// ScopeRead, events and recommend their own scopes, other writes ScopeAdmin.
// The bid route, its notices, the health checks and unknown paths need none.
func (r routeID) scope(method []byte) Scope {
	switch r {
	case routeOther, routeHealth, routeReady, routeBid, routeWin, routeBilling, routeLoss, routeOpenAPI, routeConsole:
		// The console's pages hold no data: they call the API with the
		// token the operator enters.
		return ScopeNone
	case routeEvents:
		return ScopeIngest
	case routeRecommend:
		return ScopeRecommend
	case routeMetrics:
		return ScopeAdmin
	}
	if string(method) == "GET" || string(method) == "HEAD" {
		return ScopeRead
	}
	return ScopeAdmin
}

// class returns the admission class r is bounded by.
func (r routeID) class() admitClass {
	switch r {
	case routeRecommend:
		return classRecommend
	case routeBid:
		return classBid
	case routeEvents:
		return classEvents
	case routeOther, routeHealth, routeReady, routeMetrics, routeWin, routeBilling, routeLoss, routeOpenAPI, routeConsole:
		return classNone
	}
	return classOther
}

// writes reports whether calling r with method writes to the data
// directory, and so must be refused while the disk is short of space.
func (r routeID) writes(method []byte) bool {
	switch r {
	case routeWin, routeBilling, routeLoss:
		return true
	case routeOther, routeHealth, routeReady, routeMetrics, routeBid, routeRecommend, routeOpenAPI, routeConsole:
		return false
	case routeBackup:
		return true // a checkpoint fills the disk as much as a write
	}
	return string(method) != "GET" && string(method) != "HEAD"
}

func route(path []byte) routeID {
	switch string(path) {
	case "/v1/events":
		return routeEvents
	case "/v1/recommend":
		return routeRecommend
	case "/v1/experiments":
		return routeExperiments
	case "/v1/items":
		return routeItems
	case "/metrics":
		return routeMetrics
	case "/healthz":
		return routeHealth
	case "/readyz":
		return routeReady
	case "/v1/users":
		return routeUsers
	case "/v1/segments":
		return routeSegments
	case "/v1/segments/refresh":
		return routeSegmentsRefresh
	case "/v1/audiences":
		return routeAudiences
	case "/v1/triggers":
		return routeTriggers
	case "/openrtb2/bid":
		return routeBid
	case "/openrtb2/win":
		return routeWin
	case "/openrtb2/billing":
		return routeBilling
	case "/openrtb2/loss":
		return routeLoss
	case "/v1/campaigns":
		return routeCampaigns
	case "/openapi.json":
		return routeOpenAPI
	case "/v1/admin/backup":
		return routeBackup
	case "/console":
		return routeConsole
	}
	switch {
	case bytes.HasPrefix(path, []byte("/console/")):
		return routeConsole
	case bytes.HasPrefix(path, []byte("/v1/campaigns/")) && len(path) > len("/v1/campaigns/"):
		if bytes.HasSuffix(path, []byte("/stats")) && bytes.Count(path, []byte("/")) == 4 {
			return routeCampaignStats
		}
		return routeCampaign
	case bytes.HasPrefix(path, []byte("/v1/items/")) && len(path) > len("/v1/items/"):
		return routeItem
	case bytes.HasPrefix(path, []byte("/v1/users/")) && len(path) > len("/v1/users/"):
		return routeUser
	case bytes.HasPrefix(path, []byte("/v1/experiments/")) && len(path) > len("/v1/experiments/"):
		return routeExperiment
	case bytes.HasPrefix(path, []byte("/v1/audiences/")) && len(path) > len("/v1/audiences/"):
		if bytes.HasSuffix(path, []byte("/users")) && bytes.Count(path, []byte("/")) == 4 {
			return routeAudienceUsers
		}
		return routeAudience
	}
	return routeOther
}

func (s *Server) serve(ctx *fasthttp.RequestCtx, r routeID) {
	method := string(ctx.Method())
	if method == "HEAD" {
		// HEAD is GET without the body (fasthttp leaves it out), for load
		// balancers' probes and curl -I.
		method = "GET"
	}
	switch r {
	case routeEvents:
		if allow(ctx, method, "POST") {
			s.handleEvents(ctx)
		}
	case routeRecommend:
		if allow(ctx, method, "POST") {
			s.handleRecommend(ctx)
		}
	case routeExperiments:
		s.handleExperiments(ctx, method)
	case routeExperiment:
		if id, ok := pathID(ctx, "/v1/experiments/", ""); ok && allow(ctx, method, "GET") {
			s.handleExperiment(ctx, id)
		}
	case routeItems:
		switch method {
		case "GET":
			s.handleListItems(ctx)
		case "POST":
			s.handleItems(ctx)
		default:
			methodNotAllowed(ctx, "GET, POST")
		}
	case routeItem:
		getOrDelete(ctx, method, "/v1/items/", s.handleGetItem, s.handleDeleteItem)
	case routeUser:
		getOrDelete(ctx, method, "/v1/users/", s.handleGetUser, s.handleDeleteUser)
	case routeMetrics:
		if allow(ctx, method, "GET") {
			s.handleMetrics(ctx)
		}
	case routeUsers:
		if allow(ctx, method, "POST") {
			s.handleUpsertUsers(ctx)
		}
	case routeSegments:
		if allow(ctx, method, "GET") {
			s.handleGetSegments(ctx)
		}
	case routeSegmentsRefresh:
		if allow(ctx, method, "POST") {
			s.handleRefreshSegments(ctx)
		}
	case routeAudiences:
		if allow(ctx, method, "GET") {
			s.handleAudiences(ctx)
		}
	case routeAudience:
		if name, ok := pathID(ctx, "/v1/audiences/", ""); ok {
			s.handleAudience(ctx, name)
		}
	case routeAudienceUsers:
		if name, ok := pathID(ctx, "/v1/audiences/", "/users"); ok && allow(ctx, method, "GET") {
			s.handleAudienceUsers(ctx, name)
		}
	case routeTriggers:
		if allow(ctx, method, "GET") {
			s.handleTriggers(ctx)
		}
	case routeBid:
		if allow(ctx, method, "POST") {
			s.handleBid(ctx)
		}
	case routeWin, routeBilling, routeLoss:
		if method != "GET" && method != "POST" {
			methodNotAllowed(ctx, "GET, POST")
			return
		}
		s.handleNotice(ctx, noticeKind(r))
	case routeCampaigns:
		switch method {
		case "GET":
			s.handleListCampaigns(ctx)
		case "POST":
			s.handleCampaigns(ctx)
		default:
			methodNotAllowed(ctx, "GET, POST")
		}
	case routeCampaign:
		getOrDelete(ctx, method, "/v1/campaigns/", s.handleGetCampaign, s.handleDeleteCampaign)
	case routeCampaignStats:
		if id, ok := pathID(ctx, "/v1/campaigns/", "/stats"); ok && allow(ctx, method, "GET") {
			s.handleCampaignStats(ctx, id)
		}
	case routeHealth:
		if allow(ctx, method, "GET") {
			ctx.Response.Header.SetContentType("application/json")
			ctx.SetBodyString(`{"status":"ok"}` + "\n")
		}
	case routeReady:
		if allow(ctx, method, "GET") {
			s.handleReady(ctx)
		}
	case routeOpenAPI:
		if allow(ctx, method, "GET") {
			s.handleOpenAPI(ctx)
		}
	case routeConsole:
		if allow(ctx, method, "GET") {
			s.handleConsole(ctx)
		}
	case routeBackup:
		if allow(ctx, method, "POST") {
			s.handleBackup(ctx)
		}
	default:
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound,
			message: "no such endpoint: " + string(ctx.Path()), index: -1})
	}
}

// getOrDelete serves a record's route: GET reads the record named by the
// path after prefix, DELETE removes it.
func getOrDelete(ctx *fasthttp.RequestCtx, method, prefix string, get, del func(*fasthttp.RequestCtx, string)) {
	id, ok := pathID(ctx, prefix, "")
	if !ok {
		return
	}
	switch method {
	case "GET":
		get(ctx, id)
	case "DELETE":
		del(ctx, id)
	default:
		methodNotAllowed(ctx, "GET, DELETE")
	}
}

func allow(ctx *fasthttp.RequestCtx, method, want string) bool {
	if method == want {
		return true
	}
	methodNotAllowed(ctx, want)
	return false
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allowed string) {
	ctx.Response.Header.Set("Allow", allowed)
	writeError(ctx, &apiError{status: fasthttp.StatusMethodNotAllowed, code: codeMethod,
		message: "method not allowed; use " + allowed, index: -1})
}

// pathID returns the unescaped id between prefix and suffix in the request
// path, answering 400 when it is not a valid id.
func pathID(ctx *fasthttp.RequestCtx, prefix, suffix string) (string, bool) {
	// ctx.Path() is already percent-decoded by fasthttp; encoded slashes
	// were refused before routing (encodedSeparator).
	path := ctx.Path()
	id := string(path[len(prefix) : len(path)-len(suffix)])
	if p := ident.Problem(id); p != "" {
		writeError(ctx, badRequest(codeInvalidRequest, "id", "the id in the path "+p))
		return "", false
	}
	return id, true
}

// encodedSeparator reports whether the raw request path holds a
// percent-encoded '/', '\\' or NUL, which would let an id reroute the
// request once decoded: such paths are refused.
func encodedSeparator(uri []byte) bool {
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	for {
		i := bytes.IndexByte(uri, '%')
		if i < 0 || i+2 >= len(uri) {
			return false
		}
		hi, lo := uri[i+1], uri[i+2]|0x20 // lower-case the second digit
		if hi == '2' && lo == 'f' || hi == '5' && lo == 'c' || hi == '0' && lo == '0' {
			return true
		}
		uri = uri[i+1:]
	}
}

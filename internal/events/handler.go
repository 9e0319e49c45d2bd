package events

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/introspection/revocation"
)

// Options configures New.
type Options struct {
	Marker Marker // required
	// Replay remembers the jtis seen on this replica; nil: a new bounded
	// in-memory one. Shared, when set, is asked too (Redis), so that a
	// replay at another replica is refused; its failure leaves the local
	// verdict standing.
	Replay, Shared dpop.ReplayCache
	Logger         *slog.Logger     // nil: nothing logged
	Now            func() time.Time // nil: time.Now
	Rate           int              // events a second per tenant; 0: DefaultRate
	// Count is told every event: its tenant, type and result; nil: none.
	Count func(tenant, typ, result string)
}

// Handler serves POST /events/<tenant>/backchannel-logout and POST
// /events/<tenant>/ssf.
type Handler struct {
	opts    Options
	tenants atomic.Pointer[map[string]*endpoint]
	limit   *limiter
}

// New returns a Handler without tenants (every path 404) until SetTenants.
func New(o Options) *Handler {
	if o.Replay == nil {
		o.Replay = dpop.NewMemoryReplayCache(dpop.MemoryOptions{MaxEntries: 1 << 18})
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Count == nil {
		o.Count = func(string, string, string) {}
	}
	h := &Handler{opts: o, limit: newLimiter(o.Rate)}
	h.tenants.Store(&map[string]*endpoint{})
	return h
}

// SetTenants installs the tenants with events on (others are 404). It
// fails, changing nothing, when a tenant's verifiers cannot be built.
func (h *Handler) SetTenants(ts []Tenant) error {
	m := make(map[string]*endpoint, len(ts))
	for _, t := range ts {
		e, err := newEndpoint(t)
		if err != nil {
			return err
		}
		m[t.Name] = e
	}
	h.tenants.Store(&m)
	h.limit.retain(m)
	return nil
}

// IsEvent reports whether r is for this handler (its path is under
// /events/).
func IsEvent(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/events/") }

// ServeHTTP receives one event.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, kind, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/events/"), "/")
	e := (*h.tenants.Load())[name]
	if !ok || e == nil || (kind == "backchannel-logout" && e.logout == nil) || (kind == "ssf" && e.ssf == nil) ||
		(kind != "backchannel-logout" && kind != "ssf") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	typ := "ssf"
	if kind == "backchannel-logout" {
		typ = "backchannel_logout"
	}
	now := h.opts.Now()
	if !h.limit.allow(name, now) {
		h.refuse(w, e, kind, typ, &Problem{Status: http.StatusTooManyRequests, Code: "temporarily_unavailable",
			Description: "too many events for this tenant", Result: "limited"})
		return
	}
	body, prob := readBody(w, r)
	if prob != nil {
		h.refuse(w, e, kind, typ, prob)
		return
	}
	if kind == "backchannel-logout" {
		h.logout(r.Context(), w, r, e, body, now)
		return
	}
	h.ssf(r.Context(), w, r, e, body, now)
}

// readBody reads at most MaxBodyBytes (more: 413).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Problem) {
	tooLarge := &Problem{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request",
		Description: "the body is larger than 64 KiB", Result: "too_large"}
	if r.ContentLength > MaxBodyBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, invalid("invalid_request", "the body could not be read")
	}
	return body, nil
}

// logout handles a back-channel logout request: form logout_token.
func (h *Handler) logout(ctx context.Context, w http.ResponseWriter, r *http.Request, e *endpoint, body []byte, now time.Time) {
	const typ = "backchannel_logout"
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		h.refuse(w, e, "backchannel-logout", typ, invalid("invalid_request", "the body must be application/x-www-form-urlencoded"))
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || len(form["logout_token"]) != 1 || form.Get("logout_token") == "" {
		h.refuse(w, e, "backchannel-logout", typ, invalid("invalid_request", "exactly one logout_token is required"))
		return
	}
	raw, err := e.logout.VerifyPayload(ctx, form.Get("logout_token"))
	if err != nil {
		h.refuse(w, e, "backchannel-logout", typ, verifyProblem(err))
		return
	}
	p, prob := parsePayload(raw)
	if prob == nil {
		var d decoded
		if d, prob = checkLogout(&e.Tenant, p, now); prob == nil {
			prob = h.apply(ctx, e, "backchannel-logout", []decoded{d}, now)
		}
	}
	if prob != nil {
		h.refuse(w, e, "backchannel-logout", typ, prob)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// ssf handles one pushed SET (RFC 8935 §2).
func (h *Handler) ssf(ctx context.Context, w http.ResponseWriter, r *http.Request, e *endpoint, body []byte, now time.Time) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/secevent+jwt" {
		h.refuse(w, e, "ssf", "ssf", invalid("invalid_request", "the body must be application/secevent+jwt"))
		return
	}
	raw, err := e.ssf.VerifyPayload(ctx, strings.TrimSpace(string(body)))
	if err != nil {
		h.refuse(w, e, "ssf", "ssf", verifyProblem(err))
		return
	}
	p, prob := parsePayload(raw)
	if prob == nil {
		var ds []decoded
		if ds, prob = checkSET(&e.Tenant, p); prob == nil {
			prob = h.apply(ctx, e, "ssf", ds, now)
		}
	}
	if prob != nil {
		h.refuse(w, e, "ssf", "ssf", prob)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// apply refuses a replayed jti, then records the markers of ds and logs
// and counts each event.
func (h *Handler) apply(ctx context.Context, e *endpoint, kind string, ds []decoded, now time.Time) *Problem {
	if prob := h.seen(ctx, e.Name, kind, ds[0].jti); prob != nil {
		return prob
	}
	var marks []revocation.Mark
	for _, d := range ds {
		if !d.ignored {
			marks = append(marks, revocation.NewMark(e.Name, d.target.kind, d.target.value, d.at, now, e.TTL))
		}
	}
	evicted := 0
	if len(marks) > 0 {
		var err error
		evicted, err = h.opts.Marker.Mark(ctx, marks...)
		switch {
		case errors.Is(err, revocation.ErrUnavailable):
			// Recorded here; other replicas learn it when Redis answers
			// again (their caches expire meanwhile).
			h.opts.Logger.Error("revocation event: recorded on this replica, not published", slog.String("tenant", e.Name), slog.String("error", err.Error()))
		case err != nil:
			return &Problem{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the revocation could not be recorded", Result: "error"}
		}
	}
	for _, d := range ds {
		result := "revoked"
		if d.ignored {
			result = "ignored"
		}
		attrs := []any{slog.String("tenant", e.Name), slog.String("endpoint", kind), slog.String("type", d.typ),
			slog.String("result", result), slog.String("jti_hash", revocation.SubjectHash(d.jti))}
		if !d.ignored {
			attrs = append(attrs, slog.String("claim", string(d.target.kind)), slog.String("subject_hash", revocation.SubjectHash(d.target.value)),
				slog.Time("event_time", d.at), slog.Int("evicted", evicted))
		}
		h.opts.Logger.Info("revocation event", attrs...)
		h.opts.Count(e.Name, d.typ, result)
	}
	return nil
}

// seen records jti and refuses it when it was seen before (here, or at
// another replica when a shared cache is set).
func (h *Handler) seen(ctx context.Context, tenant, kind, jti string) *Problem {
	ns := tenant + "/events-" + kind // never a tenant name: no clash with DPoP's jtis
	replayed, err := h.opts.Replay.Seen(ctx, ns, jti, SeenJTITTL)
	if err != nil {
		return &Problem{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the replay check failed", Result: "error"}
	}
	if !replayed && h.opts.Shared != nil {
		if shared, err := h.opts.Shared.Seen(ctx, ns, jti, SeenJTITTL); err == nil {
			replayed = shared
		} else {
			h.opts.Logger.Warn("revocation event: shared replay check failed, this replica's decided", slog.String("tenant", tenant), slog.String("error", err.Error()))
		}
	}
	if replayed {
		p := invalid("invalid_request", "jti was seen before (replay)")
		p.Result = "replayed"
		return p
	}
	return nil
}

// refuse answers prob: back-channel logout {"error", "error_description"},
// SSF {"err", "description"} (RFC 8935 §2.3); logs and counts it.
func (h *Handler) refuse(w http.ResponseWriter, e *endpoint, kind, typ string, prob *Problem) {
	h.opts.Logger.Warn("revocation event refused", slog.String("tenant", e.Name), slog.String("endpoint", kind),
		slog.String("result", prob.Result), slog.String("error", prob.Code), slog.String("description", prob.Description))
	h.opts.Count(e.Name, typ, prob.Result)
	var body any = map[string]string{"error": prob.Code, "error_description": prob.Description}
	if kind == "ssf" {
		body = map[string]string{"err": prob.Code, "description": prob.Description}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if prob.Status == http.StatusTooManyRequests || prob.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(prob.Status)
	_ = json.NewEncoder(w).Encode(body)
}

package cache

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// parsing is an authorization server that answers every token with the
// claims ParseClaims makes of body(token), as the real client does.
type parsing func(token string) []byte

func (p parsing) Introspect(_ context.Context, token string) (introspection.Result, error) {
	c, err := introspection.ParseClaims(p(token))
	return introspection.Result{Claims: c, Cache: introspection.CacheNone}, err
}

// typicalAnswer is the body of an ordinary active answer for token number
// i: a subject and a session of its own, one of a few clients and
// organizations, five scopes, one audience, exp and iat.
func typicalAnswer(now time.Time) parsing {
	exp, iat := strconv.FormatInt(now.Add(time.Hour).Unix(), 10), strconv.FormatInt(now.Unix(), 10)
	return func(token string) []byte {
		i, _ := strconv.Atoi(token[len("tok-"):])
		return fmt.Appendf(nil, `{"active":true,"sub":"user-%07d","client_id":"app-%d",`+
			`"scope":"openid profile email orders.read orders.write","aud":"api://orders",`+
			`"exp":%s,"iat":%s,"org_id":"org-%d","sid":"%016x"}`, i, i%50, exp, iat, i%1000, uint64(i)*0x9e3779b97f4a7c15)
	}
}

// fillStore puts n distinct typical active answers into a new store of
// one tenant, through its Cache as a miss would, and returns the store.
func fillStore(tb testing.TB, n int) *Store {
	tb.Helper()
	st := NewStore(Options{Tenant: "acme", Fingerprint: Fingerprint(introspection.Options{URL: "https://idp.acme.example/introspect"}),
		MaxTTL: time.Hour, NegativeTTL: time.Minute, MaxEntries: n})
	c := cached(st, typicalAnswer(time.Now()), time.Second)
	ctx := context.Background()
	for i := range n {
		if _, err := c.Introspect(ctx, "tok-"+strconv.Itoa(i)); err != nil {
			tb.Fatal(err)
		}
	}
	if st.Len() != n {
		tb.Fatalf("store holds %d entries, want %d", st.Len(), n)
	}
	return st
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// gcCPU is the CPU time the garbage collector has used so far.
func gcCPU() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration(s[0].Value.Float64() * float64(time.Second))
}

// BenchmarkStoreMemoryPerEntry fills one tenant's store with 1,000,000
// distinct typical active answers (once, whatever b.N) and reports the
// live heap they take per entry (bytes/entry); for one full collection of
// that heap, its wall time (gc-ms, runtime.GC: marking is proportional to
// the objects and pointers the entries hold) and the CPU time it took
// (gc-cpu-ms, less sensitive to other load on the machine); and the
// longest stop-the-world pause of the collections since the fill
// (gc-pause-µs).
func BenchmarkStoreMemoryPerEntry(b *testing.B) {
	const n = 1_000_000
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	before := heapInUse()
	st := fillStore(b, n)
	after := heapInUse()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	numGC := m.NumGC
	start, cpu := time.Now(), gcCPU()
	runtime.GC()
	full, cpu := time.Since(start), gcCPU()-cpu
	runtime.ReadMemStats(&m)
	var maxPause uint64
	for i := numGC - 2; i <= m.NumGC; i++ { // the last three cycles: the fill's two and this one
		maxPause = max(maxPause, m.PauseNs[(i+255)%256])
	}
	for b.Loop() { // a hit, so the benchmark times something of its own
		if _, _, ok := st.get(st.key("tok-1")); !ok {
			b.Fatal("tok-1 not cached")
		}
	}
	b.ReportMetric(float64(after-before)/n, "bytes/entry")
	b.ReportMetric(float64(full.Microseconds())/1000, "gc-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000, "gc-cpu-ms")
	b.ReportMetric(float64(maxPause)/1000, "gc-pause-µs")
	runtime.KeepAlive(st)
}

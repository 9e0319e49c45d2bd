package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestSlotWaitFollowsTheCheckDeadline: a check waits for a concurrency slot
// until its own deadline (the gRPC deadline, 10 s here), not the tenant's
// 1 s timeout. One slot, a server answering in 400 ms and six distinct
// tokens at once: all six are allowed, one call at a time.
func TestSlotWaitFollowsTheCheckDeadline(t *testing.T) {
	as, p := serveAcme(t, cfg{timeout: "1s", maxConcurrent: 1})
	as.SetDelay(400 * time.Millisecond)
	const n = 6
	for i := range n {
		as.Claims(fmt.Sprintf("tok-slot-%d", i), goodClaims(nil))
	}
	conn := p.grpcConn(t)
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := p.checkRaw(conn, req{auth: bearer(fmt.Sprintf("tok-slot-%d", i))})
			if err != nil {
				got[i] = err.Error()
				return
			}
			got[i] = resp.GetStatus().GetMessage()
		}()
	}
	wg.Wait()
	for i, reason := range got {
		if reason != "allowed" {
			t.Errorf("token %d: %s, want allowed", i, reason)
		}
	}
	if peak := as.PeakInFlight(); peak != 1 {
		t.Errorf("peak concurrency at the authorization server = %d, want 1", peak)
	}
}

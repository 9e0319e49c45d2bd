package cache

import (
	"fmt"
	"testing"
	"time"
)

func TestShardCount(t *testing.T) {
	for _, tc := range []struct{ entries, want int }{
		{0, 1}, {1000, 1}, {entriesPerShard, 1}, {entriesPerShard + 1, 2}, {100_000, 8}, {1 << 30, maxShards},
	} {
		if got := shardCount(tc.entries); got != tc.want {
			t.Errorf("shardCount(%d) = %d, want %d", tc.entries, got, tc.want)
		}
	}
}

// Entries spread over the shards, and the store reads as one.
func TestShardsSpreadEntries(t *testing.T) {
	st := NewStore(Options{Tenant: "acme", MaxTTL: time.Minute, NegativeTTL: time.Minute, MaxEntries: 100_000})
	defer st.Close()
	c := cached(st, newFake(active(time.Hour)), time.Second)
	for i := range 800 {
		introspect(t, c, fmt.Sprintf("tok-%d", i))
	}
	if len(st.positive) != 8 || st.Len() != 800 {
		t.Fatalf("%d shards, %d entries", len(st.positive), st.Len())
	}
	for i, sh := range st.positive {
		if n := sh.ItemCount(); n < 50 || n > 150 {
			t.Errorf("shard %d holds %d of 800 entries", i, n)
		}
	}
	if n := st.Delete("", "short"); n != 0 { // keys of any length are looked up, none found
		t.Fatalf("deleted %d", n)
	}
}

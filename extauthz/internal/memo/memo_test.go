package memo

import (
	"sync"
	"testing"
)

func TestLoadStore(t *testing.T) {
	c := New[*int, string](4)
	a, b := new(int), new(int)
	if _, ok := c.Load(a); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Store(a, "a")
	c.Store(b, "b")
	if v, ok := c.Load(a); !ok || v != "a" {
		t.Fatalf("Load(a) = %q %v", v, ok)
	}
	c.Store(a, "a2") // replaces a's own entry, not b's
	if v, _ := c.Load(a); v != "a2" {
		t.Fatalf("Load(a) = %q after a second Store", v)
	}
	if v, ok := c.Load(b); !ok || v != "b" {
		t.Fatalf("Load(b) = %q %v", v, ok)
	}
}

func TestBounded(t *testing.T) {
	c := New[*int, int](16)
	if c.Len() != 16 {
		t.Fatalf("Len = %d", c.Len())
	}
	keys := make([]*int, 1000)
	for i := range keys {
		keys[i] = new(int)
		c.Store(keys[i], i)
	}
	held := 0
	for i, k := range keys {
		if v, ok := c.Load(k); ok {
			held++
			if v != i {
				t.Fatalf("key %d answered %d", i, v) // never another key's value
			}
		}
	}
	if held == 0 || held > c.Len() {
		t.Fatalf("holds %d entries, bound %d", held, c.Len())
	}
}

func TestConcurrent(t *testing.T) {
	c := New[*int, int](8)
	keys := make([]*int, 64)
	for i := range keys {
		keys[i] = new(int)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 2000; n++ {
				i := (n*7 + g) % len(keys)
				if v, ok := c.Load(keys[i]); ok && v != i {
					t.Errorf("key %d answered %d", i, v)
					return
				}
				c.Store(keys[i], i)
			}
		}()
	}
	wg.Wait()
}

// BenchmarkLoadParallel is a hit on every core: what a cached check pays.
func BenchmarkLoadParallel(b *testing.B) {
	c := New[*int, int](4096)
	k := new(int)
	c.Store(k, 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := c.Load(k); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// A cache never stored to holds no slots: an idle tenant's costs a few
// words, whatever its bound.
func TestSlotsAllocatedOnFirstStore(t *testing.T) {
	c := New[*int, int](1 << 16)
	if n := testing.AllocsPerRun(10, func() { c.Load(new(int)) }); n > 1 { // the key itself
		t.Fatalf("a Load on an empty cache allocates %v times", n)
	}
	if c.slots.Load() != nil {
		t.Fatal("slots allocated before the first Store")
	}
	k := new(int)
	c.Store(k, 1)
	if v, ok := c.Load(k); !ok || v != 1 || len(*c.slots.Load()) != c.Len() {
		t.Fatalf("after Store: %v %v", v, ok)
	}
}

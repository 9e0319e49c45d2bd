package cache

import (
	"cmp"
	"runtime"
	"sync"
	"time"
	"weak"
)

// sweepInterval is how often the sweeper deletes expired entries (what
// go-cache's janitor did for each store before).
const sweepInterval = 10 * time.Second

// sweeper is the one goroutine that deletes the expired entries of every
// Store of the process, instead of a janitor goroutine (and ticker) per
// go-cache: with a thousand tenants, idle ones cost no goroutine. It runs
// while at least one store is registered, and ends when the last one
// leaves (Store.Close, or the store being garbage collected), so a process
// that has closed its stores (tokengate after a shutdown, a finished
// validate) has none.
var sweeper sweeperSet

type sweeperSet struct {
	mu       sync.Mutex
	stores   map[*sweptStore]struct{}
	stop     chan struct{} // closes to end the running goroutine; nil: none running
	interval time.Duration // 0: sweepInterval (tests shorten it)
}

// sweptStore is a store's registration. The sweeper holds the store
// weakly: a store nobody closed still becomes garbage, and its cleanup
// removes the registration.
type sweptStore struct{ store weak.Pointer[Store] }

// add registers s and starts the goroutine if it is the first store.
func (w *sweeperSet) add(s *Store) *sweptStore {
	reg := &sweptStore{store: weak.Make(s)}
	runtime.AddCleanup(s, w.remove, reg)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stores == nil {
		w.stores = map[*sweptStore]struct{}{}
	}
	w.stores[reg] = struct{}{}
	if w.stop == nil {
		w.stop = make(chan struct{})
		go w.run(w.stop, cmp.Or(w.interval, sweepInterval))
	}
	return reg
}

// remove unregisters reg and stops the goroutine after the last store.
func (w *sweeperSet) remove(reg *sweptStore) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.stores[reg]; !ok {
		return
	}
	delete(w.stores, reg)
	if len(w.stores) == 0 && w.stop != nil {
		close(w.stop)
		w.stop = nil
	}
}

// Len is the number of stores the sweeper holds.
func (w *sweeperSet) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.stores)
}

func (w *sweeperSet) run(stop <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			w.sweep(stop)
		}
	}
}

// sweep sweeps each registered store in turn, outside the lock (a store's
// sweep takes its write locks for a while), stopping early on stop.
func (w *sweeperSet) sweep(stop <-chan struct{}) {
	w.mu.Lock()
	regs := make([]*sweptStore, 0, len(w.stores))
	for reg := range w.stores {
		regs = append(regs, reg)
	}
	w.mu.Unlock()
	for _, reg := range regs {
		select {
		case <-stop:
			return
		default:
		}
		if s := reg.store.Value(); s != nil {
			s.sweep()
		}
	}
}

// SweptStores is the number of stores the shared sweeper sweeps: those
// made by NewStore and neither closed nor garbage collected.
func SweptStores() int { return sweeper.Len() }

package agent

import (
	"sync"
	"testing"
)

// TestTurnOrder: the lock goes to waiting high-priority holders, in order,
// before any low one, and never to two at once.
func TestTurnOrder(t *testing.T) {
	var tr turn
	tr.lock(false)
	var (
		mu     sync.Mutex
		order  []string
		inside int
		wg     sync.WaitGroup
	)
	queued := func(n int) {
		for {
			tr.mu.Lock()
			got := len(tr.high) + len(tr.low)
			tr.mu.Unlock()
			if got == n {
				return
			}
		}
	}
	enter := func(name string, low bool, n int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.lock(low)
			mu.Lock()
			inside++
			if inside != 1 {
				t.Errorf("%d holders at once", inside)
			}
			order = append(order, name)
			inside--
			mu.Unlock()
			tr.unlock()
		}()
		queued(n)
	}
	enter("low1", true, 1)
	enter("high1", false, 2)
	enter("low2", true, 3)
	enter("high2", false, 4)
	tr.unlock()
	wg.Wait()
	want := []string{"high1", "high2", "low1", "low2"}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
	if tr.held {
		t.Fatal("still held")
	}
}

package index

import (
	"fmt"
	"math/rand"
	"testing"
)

// TestHostMap: random changes (growth to thousands of names and back, so
// that the map reshards both ways) against a plain map; earlier versions
// never change.
func TestHostMap(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var m hostMap
	want := map[string]*hostEntry{}
	type snap struct {
		m    hostMap
		want map[string]*hostEntry
	}
	var snaps []snap
	for step := 0; step < 300; step++ {
		changes := map[string]*hostEntry{}
		grow := step < 150
		for k := 0; k < rng.Intn(60); k++ {
			h := fmt.Sprintf("h-%d", rng.Intn(5000))
			if grow || rng.Intn(4) == 0 {
				changes[h] = &hostEntry{}
			} else {
				changes[h] = nil
			}
		}
		if !grow { // delete many known names
			for h := range want {
				if rng.Intn(8) == 0 {
					changes[h] = nil
				}
			}
		}
		m = m.with(changes)
		for h, e := range changes {
			if e == nil {
				delete(want, h)
			} else {
				want[h] = e
			}
		}
		if m.len() != len(want) {
			t.Fatalf("step %d: %d names, want %d", step, m.len(), len(want))
		}
		for h, e := range want {
			if m.get(h) != e {
				t.Fatalf("step %d: %s wrong", step, h)
			}
		}
		for h, e := range changes {
			if e == nil && m.get(h) != nil {
				t.Fatalf("step %d: deleted %s still there", step, h)
			}
		}
		cp := make(map[string]*hostEntry, len(want))
		for h, e := range want {
			cp[h] = e
		}
		snaps = append(snaps, snap{m, cp})
	}
	for i, s := range snaps {
		if s.m.len() != len(s.want) {
			t.Fatalf("version %d changed: %d names, want %d", i, s.m.len(), len(s.want))
		}
		for h, e := range s.want {
			if s.m.get(h) != e {
				t.Fatalf("version %d changed at %s", i, h)
			}
		}
	}
	t.Logf("shards at the end: %d for %d names", m.nshards, m.len())
}

// TestShardMap: random publishes against a plain map.
func TestShardMap(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	var m shardMap[*int]
	m.init()
	want := map[string]*int{}
	for step := 0; step < 200; step++ {
		changes := map[string]*int{}
		for k := 0; k < rng.Intn(200); k++ {
			key := fmt.Sprintf("k-%d", rng.Intn(3000))
			if rng.Intn(3) == 0 {
				changes[key] = nil
			} else {
				v := step
				changes[key] = &v
			}
		}
		m.apply(changes)
		for k, v := range changes {
			if v == nil {
				delete(want, k)
			} else {
				want[k] = v
			}
		}
		for k := 0; k < 3000; k++ {
			key := fmt.Sprintf("k-%d", k)
			got, ok := m.get(key)
			if w, wok := want[key]; ok != wok || got != w {
				t.Fatalf("step %d: %s = %v %v, want %v %v", step, key, got, ok, w, wok)
			}
		}
	}
}

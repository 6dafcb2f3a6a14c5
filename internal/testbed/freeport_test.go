package testbed

import "testing"

// FreePort never repeats a port in a process, and what it hands out is
// claimed for the other test processes too (claim, the shared file, says
// no to it afterwards, as it would to another process).
func TestFreePortClaims(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 200; i++ {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d twice", p)
		}
		seen[p] = true
		if claim(p) {
			t.Fatalf("port %d claimable again after FreePort handed it out", p)
		}
	}
}

package index

import (
	"fmt"
	"testing"

	"github.com/headlessdns/headless/internal/object"
)

func TestLoc4Table(t *testing.T) {
	tab := newLoc4Table(1000)
	want := map[uint32]*object.Loc{}
	for i := uint32(1); i <= 1000; i++ {
		k := i * 2654435761
		if k == 0 {
			continue
		}
		l := &object.Loc{Node: fmt.Sprint(i)}
		tab.add(k, l)
		tab.add(k, &object.Loc{}) // the first stays
		want[k] = l
	}
	for k, l := range want {
		if tab.get(k) != l {
			t.Fatalf("get(%d) wrong", k)
		}
	}
	if tab.get(12345) != nil {
		t.Error("absent key found")
	}
}

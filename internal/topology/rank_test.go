package topology

import (
	"testing"

	"github.com/headlessdns/headless/internal/object"
)

func TestRank(t *testing.T) {
	a := &object.Loc{Node: "n1", Zone: "za"}
	b := &object.Loc{Node: "n2", Zone: "za"}
	c := &object.Loc{Node: "n3", Zone: "zb"}
	hinted := &object.Loc{Node: "n3", Zone: "zb", HintZones: "za,zc"} // the controller lends it to za
	client := ClientLoc{Node: "n1", Zone: "za"}
	for _, tc := range []struct {
		m    object.TrafficMode
		e    *object.Loc
		c    ClientLoc
		want int
	}{
		{object.TrafficSameZone, a, client, 0},
		{object.TrafficSameZone, b, client, 0},
		{object.TrafficSameZone, c, client, 1},
		{object.TrafficSameZone, hinted, client, 0},
		{object.TrafficSameZone, &object.Loc{Zone: "za", HintZones: "zb"}, client, 1}, // hints win over the zone
		{object.TrafficSameZone, nil, client, 1},
		{object.TrafficSameZone, a, ClientLoc{Node: "n1"}, 1}, // a client without zone matches no zone
		{object.TrafficSameNode, a, client, 0},
		{object.TrafficSameNode, b, client, 1},
		{object.TrafficSameNode, c, client, 2},
		{object.TrafficSameNode, &object.Loc{Node: "n9", HintNodes: "n1"}, client, 0},
		{object.TrafficSameNode, nil, client, 2},
		{object.TrafficSameNode, b, ClientLoc{Zone: "za"}, 1}, // client_zones knows a zone, no node
	} {
		if got := rank(tc.m, tc.e, tc.c); got != tc.want {
			t.Errorf("rank(%v, %+v, %+v) = %d, want %d", tc.m, tc.e, tc.c, got, tc.want)
		}
	}
}

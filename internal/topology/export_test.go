package topology

import (
	"net"

	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
)

// LocFunc is a Locator made of a function.
type LocFunc func(net.IP) *object.Loc

func (f LocFunc) Loc(ip net.IP) *object.Loc { return f(ip) }

// Shape is ShapeWith with fresh working memory and no presorted answer.
func Shape(m *dns.Msg, s Shaping) (match string, capped bool) {
	return ShapeWith(m, s, &Scratch{}, nil)
}

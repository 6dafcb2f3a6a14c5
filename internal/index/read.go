package index

import (
	"net/netip"

	"github.com/headlessdns/headless/internal/object"
)

// What the plugin reads of the index: published answers and the state of
// the index, without a lock (but when a change taken in is published first).

// Service returns the published records of a headless Service by its key
// (ServiceKey, lowercase), or nil.
func (ix *Index) Service(key string) *Records {
	ix.publishPendingFor(key)
	r, _ := ix.svcs.get(key)
	if r == nil && ix.svcSynced.Load() && !ix.caughtUp.Load() {
		r = ix.publishTakenIn(key)
	}
	return r
}

// publishTakenIn publishes a Service taken in and not yet published, for a
// read after the Service watch synced and before the initial sync is
// published whole: the builder may not have reached the Service's batch,
// and the read must not take a Service that exists for none (its names
// would pass on: a false NXDOMAIN).
func (ix *Index) publishTakenIn(key string) *Records {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.services[key] == nil {
		return nil
	}
	if _, dirty := ix.dirty[key]; dirty {
		ix.publish([]string{key})
	}
	r, _ := ix.svcs.get(key)
	return r
}

// PTR returns the PTR contributions published for an address, or nil.
func (ix *Index) PTR(a netip.Addr) *PTRs {
	ix.publishPending()
	return ix.ptrTab.Load().get(a)
}

// EndpointLoc is where the published endpoint with address a runs: nil
// when a is no published endpoint's.
func (ix *Index) EndpointLoc(a netip.Addr) *object.Loc {
	if p := ix.PTR(a); p != nil {
		return p.first.loc
	}
	return nil
}

// HasNamespace reports whether a headless Service is published in ns.
func (ix *Index) HasNamespace(ns string) bool {
	ix.publishPending()
	_, ok := (*ix.namespaces.Load())[ns]
	return ok
}

// HasAddressIn reports whether a published PTR address is inside p.
func (ix *Index) HasAddressIn(p netip.Prefix) bool {
	ix.publishPending()
	return ix.ptrTab.Load().anyIn(p)
}

// Policies says which per-Service policies some published Service uses, so
// that the plugin's steps for them cost nothing while none does.
type Policies struct {
	Capped      bool // headless.dns/max-answers caps its answers
	OwnTTL      bool // headless.dns/ttl sets its TTL
	NegativeTTL bool // headless.dns/negative-ttl sets its negative answers' TTL
}

// Serial is the SOA serial: the Unix time of the last published change.
func (ix *Index) Serial() uint32 {
	ix.publishPending()
	return uint32(ix.modified.Load())
}

// Counts are the published Services and distinct PTR addresses.
func (ix *Index) Counts() (services, addresses int64) {
	ix.publishPending()
	return ix.nServices.Load(), ix.nAddresses.Load()
}

// Generation counts the changes taken in: what the index holds taken in is
// the same while it is (for memos of what is derived from it).
func (ix *Index) Generation() uint64 { return ix.gen.Load() }

// Policies is which per-Service policies the published Services use.
func (ix *Index) Policies() Policies {
	return Policies{Capped: ix.capped.Load() > 0, OwnTTL: ix.ownTTL.Load() > 0, NegativeTTL: ix.ownNegTTL.Load() > 0}
}

// Options are the options the index was made with.
func (ix *Index) Options() Options { return ix.opts }

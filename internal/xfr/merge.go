// Package xfr merges our records into a zone transfer another plugin writes:
// the other plugin's records, ours added in its order of Services, its
// records of Services we serve dropped for ours, one SOA at each end whose
// serial is the newer of its and ours. It knows our side only through Ours.
package xfr

import (
	"strings"

	"github.com/headlessdns/headless/internal/index"
	"github.com/miekg/dns"
)

// Ours is what a merged transfer reads of our side of one zone.
type Ours interface {
	// Serial is the serial of our records (the time of their last change).
	Serial() uint32
	// Keys are our Services, in transfer order (index.CompareForTransfer).
	Keys() []string
	// Owner is the key of the Service a record's lowercase owner name is or
	// is below, when that Service is ours.
	Owner(name string) (key string, ours bool, service bool)
	// Write writes one Service's records.
	Write(key string, emit func([]dns.RR))
}

// Merge writes the next plugin's transfer (next, the channel of its answer
// to a request with serial) into ch with ours merged in, and closes ch.
// again asks the next plugin for a full transfer, for when its zone is
// unchanged for serial and ours is not.
func Merge(ch chan<- []dns.RR, ours Ours, serial uint32, next <-chan []dns.RR, again func() (<-chan []dns.RR, error)) {
	defer close(ch)
	first, ok := <-next
	if !ok || len(first) == 0 {
		return
	}
	soa, isSOA := dns.Copy(first[0]).(*dns.SOA)
	if !isSOA {
		Drain(next)
		return
	}
	soa.Serial = max(soa.Serial, ours.Serial())
	if serial != 0 && soa.Serial == serial {
		ch <- []dns.RR{soa}
		Drain(next)
		return
	}
	batch, ok := <-next
	if !ok {
		c, err := again()
		if err != nil {
			return
		}
		next = c
		<-next // its SOA (ours is written)
		batch, ok = <-next
	}
	ch <- []dns.RR{soa}
	m := merger{ours: ours, ch: ch, keys: ours.Keys()}
	for ; ok; batch, ok = <-next {
		if m.pass(batch) {
			break // the next plugin's closing SOA
		}
	}
	Drain(next)
	m.rest()
	ch <- []dns.RR{soa}
}

// merger interleaves our Services into the next plugin's stream.
type merger struct {
	ours Ours
	ch   chan<- []dns.RR
	keys []string // our Service keys not written yet, in transfer order
	keep []dns.RR
}

// pass writes one batch of the next plugin's records: before a record of a
// Service, ours that come before that Service; records of Services we
// serve are ours to write and dropped. It reports whether the batch ended
// with the closing SOA.
func (m *merger) pass(batch []dns.RR) (closed bool) {
	m.keep = m.keep[:0]
	for _, rr := range batch {
		if rr.Header().Rrtype == dns.TypeSOA {
			closed = true
			break
		}
		key, ours, service := m.ours.Owner(strings.ToLower(rr.Header().Name))
		if !service {
			m.keep = append(m.keep, rr)
			continue
		}
		if ours {
			continue // written from the index
		}
		m.flushBefore(key)
		m.keep = append(m.keep, rr)
	}
	if len(m.keep) > 0 {
		m.ch <- append([]dns.RR(nil), m.keep...)
	}
	return closed
}

// flushBefore writes what is kept, then our Services ordered before key.
func (m *merger) flushBefore(key string) {
	i := 0
	for i < len(m.keys) && index.CompareForTransfer(m.keys[i], key) < 0 {
		i++
	}
	if i == 0 {
		return
	}
	if len(m.keep) > 0 {
		m.ch <- append([]dns.RR(nil), m.keep...)
		m.keep = m.keep[:0]
	}
	for _, k := range m.keys[:i] {
		m.ours.Write(k, m.emit)
	}
	m.keys = m.keys[i:]
}

func (m *merger) emit(rrs []dns.RR) { m.ch <- rrs }

// rest writes our Services not written yet.
func (m *merger) rest() {
	for _, k := range m.keys {
		m.ours.Write(k, m.emit)
	}
	m.keys = nil
}

// Drain reads a channel to its end in the background, so that the plugin
// writing it is not left blocked.
func Drain(ch <-chan []dns.RR) {
	go func() {
		for range ch {
		}
	}()
}

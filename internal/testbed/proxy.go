package testbed

import (
	"fmt"
	"io"
	"net"
	"sync"
)

// Proxy forwards a loopback TCP port to a target; Down cuts every connection
// and resets new ones (the API server unreachable from CoreDNS's side), Up
// forwards again. The port stays bound while down, so no other listener in
// the run (a CoreDNS picking a free port, say) can take it before Up.
type Proxy struct {
	Addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// StartProxy listens on a free loopback port and forwards to target.
func StartProxy(t TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			reset(c)
			continue
		}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.pipe(c) }()
	}
}

// reset closes c with an RST, which a client sees as it sees a refusal: at
// once, with nothing read.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// Up forwards new connections again.
func (p *Proxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return fmt.Errorf("proxy %s is closed", p.Addr)
	}
	p.down = false
	return nil
}

func (p *Proxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(c)
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		reset(c)
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// Down cuts every open connection and resets new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		reset(c)
	}
}

// close stops listening and waits for every forwarding goroutine.
func (p *Proxy) close() {
	p.Down()
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.wg.Wait()
}

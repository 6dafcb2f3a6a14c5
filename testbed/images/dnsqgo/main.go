// Command dnsqgo is the Go client of the node tests. Built twice: with the
// netgo tag (the pure-Go resolver, CGO_ENABLED=0) and with netcgo (glibc's
// resolver through cgo). The commands are those of testbed/images/dnsq:
//
//	dnsqgo addr NAME... | name IP | srv NAME | loop NAME SECS MS | sleep [SECS]
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		return usage()
	}
	switch {
	case args[0] == "sleep":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		var after <-chan time.Time
		if len(args) > 1 {
			s, _ := strconv.Atoi(args[1])
			after = time.After(time.Duration(s) * time.Second)
		}
		select {
		case <-c:
		case <-after:
		}
		return 0
	case args[0] == "addr" && len(args) > 1:
		rc := 0
		for _, n := range args[1:] {
			rc |= addr(n, false)
		}
		return rc
	case args[0] == "name" && len(args) == 2:
		names, err := net.LookupAddr(args[1])
		if err != nil || len(names) == 0 {
			fmt.Printf("%s error %v\n", args[1], err)
			return 1
		}
		fmt.Println(strings.TrimSuffix(names[0], "."))
		return 0
	case args[0] == "srv" && len(args) == 2:
		return srv(args[1])
	case args[0] == "loop" && len(args) == 4:
		secs, _ := strconv.Atoi(args[2])
		ms, _ := strconv.Atoi(args[3])
		ok, fail := 0, 0
		for end := time.Now().Add(time.Duration(secs) * time.Second); time.Now().Before(end); {
			if addr(args[1], true) == 0 {
				ok++
			} else {
				fail++
			}
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		fmt.Printf("ok=%d fail=%d\n", ok, fail)
		return 0
	}
	return usage()
}

func usage() int {
	fmt.Fprintln(os.Stderr, "usage: dnsqgo addr NAME... | name IP | srv NAME | loop NAME SECS MS | sleep [SECS]")
	return 2
}

func addr(name string, quiet bool) int {
	ips, err := net.DefaultResolver.LookupIP(context.Background(), "ip4", name)
	if err != nil {
		if !quiet {
			fmt.Printf("%s error %v\n", name, err)
		}
		return 1
	}
	seen := map[string]bool{}
	var out []string
	for _, ip := range ips {
		if s := ip.String(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	if !quiet {
		fmt.Println(name + " " + strings.Join(out, " "))
	}
	return 0
}

func srv(name string) int {
	_, srvs, err := net.LookupSRV("", "", name)
	if err != nil || len(srvs) == 0 {
		fmt.Printf("%s error no SRV %v\n", name, err)
		return 1
	}
	var lines []string
	for _, s := range srvs {
		lines = append(lines, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, strings.TrimSuffix(s.Target, ".")))
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	return 0
}

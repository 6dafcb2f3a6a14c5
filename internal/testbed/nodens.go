package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// insideNode runs in the namespaces NodeMain made: PID 1 of its PID
// namespace, alone in a network namespace with only lo, in a private mount
// namespace. It lays out mounts and network, runs the tests, stops the
// node and checks nothing of it is left running.
func insideNode(m *testing.M, base string) int {
	undo, err := nodeMounts(base)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: node mounts: %v\n", err)
		return 1
	}
	if err := nodeNetwork(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: node network: %v\n", err)
		return 1
	}
	rc := m.Run()
	if problems := stopSharedNode(); len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: node teardown:\n  %s\n", strings.Join(problems, "\n  "))
		rc = 1
	}
	if left := otherProcesses(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: processes left running in the node's namespace: %v\n", left)
		rc = 1
	}
	for _, err := range unmountAll(undo) {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		rc = 1
	}
	return rc
}

// unmountAll unmounts what the node mounted below the harness's mounts
// (snapshots, volumes, network namespaces), deepest first, then those.
func unmountAll(ours []string) []error {
	var errs []error
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	lines := strings.Split(strings.TrimSpace(string(mi)), "\n")
	for i := len(lines) - 1; i >= 0; i-- { // mountinfo lists parents first
		f := strings.Fields(lines[i])
		if len(f) < 5 {
			continue
		}
		mp := f[4]
		for _, o := range ours {
			if strings.HasPrefix(mp, o+"/") {
				if err := syscall.Unmount(mp, 0); err != nil {
					errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
				}
				break
			}
		}
	}
	for i := len(ours) - 1; i >= 0; i-- {
		if err := syscall.Unmount(ours[i], 0); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", ours[i], err))
		}
	}
	return errs
}

// nodeMounts: a tmpfs on base for everything the node writes; /var under an
// overlay and /run a tmpfs, for what kubelet, containerd and CNI write
// whatever their configuration says; the namespace's own resolv.conf; and
// files over the /proc/sys entries kubelet writes. It returns the mount
// points, for unmounting in reverse.
func nodeMounts(base string) ([]string, error) {
	var done []string
	mount := func(src, dst, typ string, flags uintptr, data string) error {
		if err := syscall.Mount(src, dst, typ, flags, data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", typ+" "+src, dst, err)
		}
		done = append(done, dst)
		return nil
	}
	if err := mount("tmpfs", base, "tmpfs", 0, "mode=0755"); err != nil {
		return done, err
	}
	for _, d := range []string{"var-upper", "var-work", "sysctl", "etc"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			return done, err
		}
	}
	if err := mount("overlay", "/var", "overlay", 0, fmt.Sprintf("lowerdir=/var,upperdir=%s/var-upper,workdir=%s/var-work", base, base)); err != nil {
		return done, err
	}
	if err := mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return done, err
	}
	resolv := filepath.Join(base, "etc", "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+NoResolver+"\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		return done, err
	}
	if err := mount(resolv, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		return done, err
	}
	for _, k := range kubeletSysctls {
		cur, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			return done, err
		}
		f := filepath.Join(base, "sysctl", strings.ReplaceAll(k, "/", "."))
		if err := os.WriteFile(f, cur, 0o644); err != nil {
			return done, err
		}
		if err := mount(f, "/proc/sys/"+k, "", syscall.MS_BIND, ""); err != nil {
			return done, err
		}
	}
	return done, nil
}

// nodeNetwork: lo, and the bridge cni0 holding the node's address (the
// pods' gateway); a route for the Service range so the node itself reaches
// ClusterIPs through kube-proxy's rules. No default route: nothing here can
// reach an address outside the namespace.
func nodeNetwork() error {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "cni0", "type", "bridge"},
		{"addr", "add", NodeIP + "/16", "dev", "cni0"},
		{"link", "set", "cni0", "up"},
		{"route", "add", ServiceCIDR, "dev", "cni0", "src", NodeIP},
	} {
		if b, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, b)
		}
	}
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
}

// otherProcesses lists the processes of this PID namespace other than
// this one.
func otherProcesses() []string {
	reapZombies()
	var out []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
		stat, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			continue
		}
		out = append(out, fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(comm))))
	}
	return out
}

// Command weft-peer-go is the Go peer of weft-bench's w1..w4 workloads
// and of its echo workload, w5 (see bench/peers/README.md).
//
// Usage: weft-peer-go w1|w2|w3|w4 [-w WORKERS] [-n N]
//
//	weft-peer-go w5 [-w WORKERS] [-n MSGS_PER_CONN] [-c CONNS]
//
// GOMAXPROCS is set to WORKERS; the benchmark body runs in a goroutine that
// main waits on, as weft's body runs in a spawned task. One line of
// key=value pairs per run goes to stdout; a failed check goes to stderr and
// the exit status is 1.
//
// w5 starts a copy of this program as its server (the hidden subcommand
// "w5-server -w WORKERS -c CONNS", with GOMAXPROCS=WORKERS), reads the
// port it listens on from its stdout, runs the client, then reaps the
// server.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const usage = "usage: weft-peer-go w1|w2|w3|w4 [-w WORKERS] [-n N]\n" +
	"       weft-peer-go w5 [-w WORKERS] [-n MSGS_PER_CONN] [-c CONNS]"

// yields is the number of yields per task in W2.
const yields = 100

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "weft-peer-go: "+format+"\n", a...)
	os.Exit(1)
}

func badUsage(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "weft-peer-go: "+format+"\n%s\n", append(a, usage)...)
	os.Exit(2)
}

// expectedSum is the sum of i & 7 for i in 0..n.
func expectedSum(n int) int {
	r := n % 8
	return n/8*28 + r*(r-1)/2
}

// w1 spawns n goroutines (goroutine i delivers i & 7 on its own 1-buffered
// channel), then receives from each channel in spawn order and sums.
func w1(workers, n int) (string, error) {
	results := make([]chan int, n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		c := make(chan int, 1)
		results[i] = c
		go func(i int, c chan<- int) { c <- i & 7 }(i, c)
	}
	spawn := time.Since(t0).Seconds()
	sum := 0
	for _, c := range results {
		sum += <-c
	}
	wall := time.Since(t0).Seconds()
	if want := expectedSum(n); sum != want {
		return "", fmt.Errorf("w1: sum is %d, expected %d", sum, want)
	}
	return fmt.Sprintf("w1 runtime=go workers=%d tasks=%d sum=%d seconds=%.4f tasks_per_s=%.0f spawn_seconds=%.4f",
		workers, n, sum, wall, float64(n)/wall, spawn), nil
}

// w2 runs n goroutines that each yield (runtime.Gosched) `yields` times.
func w2(workers, n int) (string, error) {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < yields; j++ {
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0).Seconds()
	return fmt.Sprintf("w2 runtime=go workers=%d tasks=%d yields=%d seconds=%.4f yields_per_s=%.0f",
		workers, n, yields, wall, float64(n*yields)/wall), nil
}

// w3 plays `rounds` round trips between two goroutines over two channels
// of the given capacity: ping sends i, pong answers i + 1.
func w3(workers, rounds, capacity int) (string, error) {
	t0 := time.Now()
	toPong := make(chan int, capacity)
	toPing := make(chan int, capacity)
	var wg sync.WaitGroup
	var pingErr error
	wg.Add(2)
	go func() { // ping
		defer wg.Done()
		defer close(toPong)
		for i := 0; i < rounds; i++ {
			toPong <- i
			if r := <-toPing; r != i+1 {
				pingErr = fmt.Errorf("w3: reply %d to %d, expected %d", r, i, i+1)
				return
			}
		}
	}()
	go func() { // pong
		defer wg.Done()
		for v := range toPong {
			toPing <- v + 1
		}
	}()
	wg.Wait()
	wall := time.Since(t0).Seconds()
	if pingErr != nil {
		return "", pingErr
	}
	return fmt.Sprintf("w3 runtime=go workers=%d rounds=%d capacity=%d seconds=%.4f ns_per_round_trip=%.1f",
		workers, rounds, capacity, wall, wall*1e9/float64(rounds)), nil
}

// w4 starts n goroutines that each sleep 1 s, then waits for all.
func w4(workers, n int) (string, error) {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Second)
		}()
	}
	spawn := time.Since(t0).Seconds()
	wg.Wait()
	wall := time.Since(t0).Seconds()
	return fmt.Sprintf("w4 runtime=go workers=%d tasks=%d seconds=%.4f spawn_seconds=%.4f",
		workers, n, wall, spawn), nil
}

// peakRSSKiB is this process's peak resident set size (ru_maxrss, KiB).
func peakRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		die("getrusage: %v", err)
	}
	return int64(ru.Maxrss)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	workload := os.Args[1]
	defaults := map[string]int{"w1": 1000000, "w2": 10000, "w3": 1000000, "w4": 100000,
		"w5": 10000, "w5-server": 0}
	n, ok := defaults[workload]
	if !ok {
		badUsage("unknown workload '%s'", workload)
	}
	echo := strings.HasPrefix(workload, "w5")
	workers, conns := 2, 100
	args := os.Args[2:]
	for len(args) > 0 {
		if len(args) < 2 {
			badUsage("option '%s' needs a value", args[0])
		}
		v, err := strconv.Atoi(args[1])
		switch {
		case args[0] == "-w" && err == nil && v >= 1:
			workers = v
		case args[0] == "-n" && err == nil && v >= 0:
			n = v
		case args[0] == "-c" && echo && err == nil && v >= 1:
			conns = v
		case args[0] == "-w" || args[0] == "-n" || (args[0] == "-c" && echo):
			badUsage("bad value '%s' for %s", args[1], args[0])
		default:
			badUsage("unknown option '%s'", args[0])
		}
		args = args[2:]
	}
	if n == 0 && workload != "w4" && workload != "w5-server" {
		badUsage("-n 0 is only meaningful for w4 (baseline)")
	}
	runtime.GOMAXPROCS(workers)
	switch workload {
	case "w5-server":
		w5Server(conns)
	case "w5":
		line, err := w5(workers, conns, n)
		if err != nil {
			die("%v", err)
		}
		fmt.Println(line)
		return
	}

	type result struct {
		lines []string
		err   error
	}
	done := make(chan result)
	go func() { // the benchmark body
		var r result
		var line string
		switch workload {
		case "w1":
			line, r.err = w1(workers, n)
			r.lines = append(r.lines, line)
		case "w2":
			line, r.err = w2(workers, n)
			r.lines = append(r.lines, line)
		case "w3":
			for _, capacity := range []int{1, 0} {
				if line, r.err = w3(workers, n, capacity); r.err != nil {
					break
				}
				r.lines = append(r.lines, line)
			}
		case "w4":
			line, r.err = w4(workers, n)
			r.lines = append(r.lines, line)
		}
		done <- r
	}()
	r := <-done
	if r.err != nil {
		die("%v", r.err)
	}
	for _, line := range r.lines {
		if workload == "w4" {
			line += fmt.Sprintf(" peak_rss_kib=%d", peakRSSKiB())
		}
		fmt.Println(line)
	}
}

// ------------------------------------------------------------------ w5 --
//
// W5, echo over TCP on 127.0.0.1, as `weft-bench echo`: a server process
// and a client process, GOMAXPROCS=WORKERS each; the client opens CONNS
// connections, all before the first message, then each sends MSGS 64-byte
// messages one at a time (write 64 bytes, read exactly the 64 that come
// back, compare). The clock runs from the start signal, given once every
// connection is open, to the end of the last connection's goroutine (its
// last reply read and its socket closed); a round trip is timed from
// before the write to after the read. TCP_NODELAY is on at both ends.

const (
	msgSize    = 64               // w5: bytes per message
	serverBuf  = 4096             // w5: the server's read buffer (weft's echo handler reads up to 4096)
	serverWait = 30 * time.Second // w5: the longest wait for the server's port line and for its exit
)

// w5Limit is how long the client's body may take before the run is given
// up: a minute plus a second per 2,000 messages (weft-bench echo's
// watchdog).
func w5Limit(conns, msgs int) time.Duration {
	s := 60 + float64(conns)*float64(msgs)/2000
	if s > 3600 {
		s = 3600
	}
	return time.Duration(s * float64(time.Second))
}

// w5Server is the hidden "w5-server -w WORKERS -c CONNS": it listens on
// 127.0.0.1 on a port the kernel picks, prints that port on stdout,
// accepts CONNS connections, echoes each in a goroutine of its own until
// its end of stream, and exits 0 when all are done. It exits 1 on an
// error, and when its stdin reaches its end: the client that started it
// (and holds the pipe) is gone, so no server outlives its client.
func w5Server(conns int) {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		die("w5 server: the client went away")
	}()
	done := make(chan error)
	go func() { done <- w5Serve(conns) }() // the server's body
	if err := <-done; err != nil {
		die("%v", err)
	}
	os.Exit(0)
}

// w5Serve is the accept loop; then it waits for every connection.
func w5Serve(conns int) error {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fmt.Errorf("w5 server: listen: %v", err)
	}
	if _, err := fmt.Printf("%d\n", ln.Addr().(*net.TCPAddr).Port); err != nil {
		ln.Close()
		return fmt.Errorf("w5 server: writing the port: %v", err)
	}
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		c, err := ln.AcceptTCP()
		if err == nil {
			if err = c.SetNoDelay(true); err != nil {
				c.Close()
			}
		}
		if err != nil {
			ln.Close()
			return fmt.Errorf("w5 server: accept: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w5Echo(c)
		}()
	}
	ln.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// w5Echo serves one connection: read what comes (up to serverBuf bytes),
// write all of it back, until the end of stream; then close.
func w5Echo(c *net.TCPConn) error {
	defer c.Close()
	buf := make([]byte, serverBuf)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return fmt.Errorf("w5 server: write: %v", werr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("w5 server: read: %v", err)
		}
	}
}

// server is the server process, seen from the client.
type server struct {
	cmd    *exec.Cmd
	stdin  *os.File   // held open until the server is reaped: it exits when this closes
	waited chan error // cmd.Wait's result, once
	reaped bool
}

// startServer starts "THIS_PROGRAM w5-server" and reads its port.
func startServer(workers, conns int) (*server, int, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, fmt.Errorf("w5: cannot find this program: %v", err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, 0, fmt.Errorf("w5: pipe: %v", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, 0, fmt.Errorf("w5: pipe: %v", err)
	}
	w := strconv.Itoa(workers)
	cmd := exec.Command(exe, "w5-server", "-w", w, "-c", strconv.Itoa(conns))
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+w)
	cmd.Stdin = inR
	cmd.Stdout = outW
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, 0, fmt.Errorf("w5: cannot start the server: %v", err)
	}
	s := &server{cmd: cmd, stdin: inW, waited: make(chan error, 1)}
	go func() { s.waited <- cmd.Wait() }()
	// The port line is read in a goroutine of its own, so that a server
	// that never prints one is waited for serverWait at most (killing it
	// ends the read).
	type portLine struct {
		line string
		err  error
	}
	got := make(chan portLine, 1)
	go func() {
		line, err := bufio.NewReader(outR).ReadString('\n')
		outR.Close()
		got <- portLine{line, err}
	}()
	var pl portLine
	select {
	case pl = <-got:
	case <-time.After(serverWait):
		pl.err = errors.New("none in time")
	}
	if pl.err != nil {
		s.kill()
		return nil, 0, fmt.Errorf("w5: the server printed no port (%v)", pl.err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(pl.line))
	if err != nil || port <= 0 || port > 65535 {
		s.kill()
		return nil, 0, fmt.Errorf("w5: the server printed '%s', not a port", strings.TrimSpace(pl.line))
	}
	return s, port, nil
}

// kill kills and reaps the server, unless it is reaped already.
func (s *server) kill() {
	if s.reaped {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.waited
	s.reaped = true
	s.stdin.Close()
}

// finish waits for the server to exit (it does once every connection has
// ended), serverWait at most; any exit but 0 is an error.
func (s *server) finish() error {
	select {
	case err := <-s.waited:
		s.reaped = true
		s.stdin.Close()
		if err != nil {
			return fmt.Errorf("w5: the server failed (%v)", err)
		}
		return nil
	case <-time.After(serverWait):
		s.kill()
		return errors.New("w5: the server did not exit; killed it")
	}
}

// w5 is the client process: it starts the server, runs the client body
// in a goroutine it waits on, and reaps the server.
func w5(workers, conns, msgs int) (string, error) {
	srv, port, err := startServer(workers, conns)
	if err != nil {
		return "", err
	}
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() { // the benchmark body
		line, err := w5Client(workers, conns, msgs, port)
		done <- result{line, err}
	}()
	limit := w5Limit(conns, msgs)
	var r result
	select {
	case r = <-done:
	case <-time.After(limit):
		r.err = fmt.Errorf("w5: the run took over %.0f s; given up", limit.Seconds())
	}
	if r.err != nil {
		srv.kill()
		return "", r.err
	}
	if err := srv.finish(); err != nil {
		return "", err
	}
	return r.line, nil
}

// uint32s sorts round-trip times.
type uint32s []uint32

func (a uint32s) Len() int           { return len(a) }
func (a uint32s) Less(i, j int) bool { return a[i] < a[j] }
func (a uint32s) Swap(i, j int)      { a[i], a[j] = a[j], a[i] }

// w5Client is the client's body: a goroutine per connection; once all are
// connected, the start; then the figures.
func w5Client(workers, conns, msgs, port int) (string, error) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	// Round trips in ns: connection i's are trips[i*msgs : (i+1)*msgs].
	trips := make([]uint32, conns*msgs)
	errs := make([]error, conns)
	ready := make(chan error, conns)
	start := make(chan struct{})
	abort := false // set before start is closed: no start
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTCP("tcp", nil, addr)
			if err == nil {
				if err = c.SetNoDelay(true); err != nil {
					c.Close()
				}
			}
			if err != nil {
				errs[i] = fmt.Errorf("w5: connect: %v", err)
				ready <- errs[i]
				return
			}
			ready <- nil
			<-start
			if abort {
				c.Close()
				return
			}
			errs[i] = w5Talk(c, i, trips[i*msgs:(i+1)*msgs])
		}(i)
	}
	// Every connection is open before the first message.
	for i := 0; i < conns; i++ {
		if err := <-ready; err != nil {
			abort = true
			close(start)
			wg.Wait()
			return "", err
		}
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	secs := time.Since(t0).Seconds()
	for _, err := range errs {
		if err != nil {
			return "", err
		}
	}
	sort.Sort(uint32s(trips))
	total := len(trips)
	us := func(k int) float64 { return float64(trips[k]) / 1e3 }
	return fmt.Sprintf("w5 runtime=go workers=%d conns=%d msgs=%d seconds=%.4f msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f",
		workers, conns, msgs, secs, float64(total)/secs, us(total/2), us(total*99/100), us(total-1)), nil
}

// w5Talk makes connection index's round trips, then closes it: message i
// is 64 bytes of 'a' + index % 26 with i in its first 8 (little-endian,
// the byte order of weft's memcpy on x86).
func w5Talk(c *net.TCPConn, index int, trips []uint32) error {
	defer c.Close()
	out := bytes.Repeat([]byte{byte('a' + index%26)}, msgSize)
	back := make([]byte, msgSize)
	for i := range trips {
		binary.LittleEndian.PutUint64(out, uint64(i)) // each message differs
		t0 := time.Now()
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("w5: connection %d: write: %v", index, err)
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return fmt.Errorf("w5: connection %d: read: %v", index, err)
		}
		d := time.Since(t0)
		if d > 1<<32-1 {
			d = 1<<32 - 1
		}
		trips[i] = uint32(d)
		if !bytes.Equal(back, out) {
			return fmt.Errorf("w5: connection %d: message %d came back changed", index, i)
		}
	}
	return nil
}

// Command weft-peer-go is the Go peer of weft-bench's w1..w4 workloads
// (see bench/peers/README.md).
//
// Usage: weft-peer-go w1|w2|w3|w4 [-w WORKERS] [-n N]
//
// GOMAXPROCS is set to WORKERS; the benchmark body runs in a goroutine that
// main waits on, as weft's body runs in a spawned task. One line of
// key=value pairs per run goes to stdout; a failed check goes to stderr and
// the exit status is 1.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const usage = "usage: weft-peer-go w1|w2|w3|w4 [-w WORKERS] [-n N]"

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
	defaults := map[string]int{"w1": 1000000, "w2": 10000, "w3": 1000000, "w4": 100000}
	n, ok := defaults[workload]
	if !ok {
		badUsage("unknown workload '%s'", workload)
	}
	workers := 2
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
		case args[0] == "-w" || args[0] == "-n":
			badUsage("bad value '%s' for %s", args[1], args[0])
		default:
			badUsage("unknown option '%s'", args[0])
		}
		args = args[2:]
	}
	if n == 0 && workload != "w4" {
		badUsage("-n 0 is only meaningful for w4 (baseline)")
	}
	runtime.GOMAXPROCS(workers)

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

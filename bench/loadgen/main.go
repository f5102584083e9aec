// Command loadgen puts Appyard's API under load for bench/load.py: it does the HTTP side of each phase and prints
// one JSON object (the phase's figures) on its last line of stdout. Go and the standard library only, so that
// 1,000 clients cost the system under test little of the machine's CPU.
//
//	loadgen closed -clients 1000 -sse 100 -duration 30s  # closed loops of waited runs, plus SSE subscribers
//	loadgen burst -count 10000 -conns 64                 # submit runs with ?wait=false as fast as possible
//	loadgen hold -count 1000                             # N waited runs at once; prints {"sent":N} when all are out
//	loadgen idle -count 1000                             # N idle keep-alive connections; {"sent":N}; until stdin ends
//	loadgen open -rate 100 -duration 5s                  # open-loop arrivals at a fixed rate
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const defaultBody = `{"function":"echo","state":{"form":{"text":"hi"}}}`

type options struct {
	url      string
	path     string
	body     []byte
	clients  int
	sse      int
	count    int
	conns    int
	rate     float64
	duration time.Duration
	timeout  time.Duration
}

// stats gathers latencies and errors by kind from many goroutines.
type stats struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    map[string]int
	ok        int
}

func newStats() *stats { return &stats{errors: map[string]int{}} }

func (s *stats) success(latency time.Duration) {
	s.mu.Lock()
	s.ok++
	s.latencies = append(s.latencies, latency)
	s.mu.Unlock()
}

func (s *stats) failure(kind string, latency time.Duration) {
	s.mu.Lock()
	s.errors[kind]++
	s.latencies = append(s.latencies, latency)
	s.mu.Unlock()
}

// summary: counts and latency percentiles in milliseconds (over every request, failed ones included).
func (s *stats) summary() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	sorted := slices.Clone(s.latencies)
	slices.Sort(sorted)
	ms := func(q float64) float64 {
		if len(sorted) == 0 {
			return 0
		}
		index := int(q * float64(len(sorted)-1))
		return float64(sorted[index].Microseconds()) / 1000
	}
	failed := 0
	for _, n := range s.errors {
		failed += n
	}
	return map[string]any{
		"requests": s.ok + failed, "ok": s.ok, "errors": failed, "error_kinds": s.errors,
		"p50_ms": ms(0.50), "p90_ms": ms(0.90), "p99_ms": ms(0.99), "max_ms": ms(1),
	}
}

// errorKind names a transport error briefly (the kinds are counted, so they must not carry addresses).
func errorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection_reset"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection_refused"
	case strings.Contains(err.Error(), "too many open files"):
		return "too_many_open_files"
	}
	return "transport"
}

type client struct {
	http   *http.Client
	opts   options
	opened *atomic.Int64 // connections dialled (a keep-alive client dials once)
}

func newClient(opts options, pool int) *client { return counting(opts, pool, new(atomic.Int64)) }

// alone: a client with one keep-alive connection of its own (as a browser tab holds), counted with c's.
func (c *client) alone() *client { return counting(c.opts, 1, c.opened) }

func counting(opts options, pool int, opened *atomic.Int64) *client {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        pool,
		MaxIdleConnsPerHost: pool,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &client{http: &http.Client{Transport: transport, Timeout: opts.timeout}, opts: opts, opened: opened}
}

func (c *client) trace(ctx context.Context, wrote func()) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if !info.Reused {
				c.opened.Add(1)
			}
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			if wrote != nil {
				wrote()
			}
		},
	})
}

type runAnswer struct {
	RunID  string `json:"run_id"`
	Status string `json:"status"`
}

// start POSTs one run. wait=true: a 200 whose status is "succeeded" is a success; wait=false: a 202 with a run id.
// It returns the run id and the error kind ("" on success).
func (c *client) start(wait bool, wrote func()) (string, string) {
	url := c.opts.url + c.opts.path
	if !wait {
		url += "?wait=false"
	}
	ctx := c.trace(context.Background(), wrote)
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(c.opts.body))
	if err != nil {
		return "", "request"
	}
	request.Header.Set("Content-Type", "application/json")
	response, err := c.http.Do(request)
	if err != nil {
		return "", errorKind(err)
	}
	defer response.Body.Close()
	data, err := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	if err != nil {
		return "", errorKind(err)
	}
	expected := http.StatusOK
	if !wait {
		expected = http.StatusAccepted
	}
	if response.StatusCode != expected {
		return "", fmt.Sprintf("http_%d", response.StatusCode)
	}
	var answer runAnswer
	if json.Unmarshal(data, &answer) != nil || answer.RunID == "" {
		return "", "bad_body"
	}
	if wait && answer.Status != "succeeded" {
		return answer.RunID, "run_" + answer.Status
	}
	return answer.RunID, ""
}

// follow reads a run's server-sent events until its final status event; "" when it succeeded.
func (c *client) follow(runID string) string {
	ctx := c.trace(context.Background(), nil)
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, c.opts.url+"/api/runs/"+runID+"/events", nil)
	if err != nil {
		return "request"
	}
	response, err := c.http.Do(request)
	if err != nil {
		return "sse_" + errorKind(err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fmt.Sprintf("sse_http_%d", response.StatusCode)
	}
	lines := bufio.NewScanner(response.Body)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	event := ""
	for lines.Scan() {
		line := lines.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "status":
			var status struct {
				Status string `json:"status"`
			}
			if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &status) != nil {
				return "sse_bad_event"
			}
			switch status.Status {
			case "succeeded":
				_, _ = io.Copy(io.Discard, response.Body) // the server ends the stream: keep the connection
				return ""
			case "failed", "cancelled":
				return "sse_run_" + status.Status
			}
		}
	}
	if err := lines.Err(); err != nil {
		return "sse_" + errorKind(err)
	}
	return "sse_ended_early"
}

// emit prints one JSON line, with the CPU time this process has used so far (user + system, seconds).
func emit(value map[string]any) {
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) == nil {
		value["cpu_seconds"] = time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
	}
	data, err := json.Marshal(value)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(data))
}

// closed: `clients` loops of waited runs and `sse` loops of (start with wait=false, follow its events), for
// `duration`, each on a connection of its own; loops finish the run they are in when time is up.
func closed(opts options) {
	c := newClient(opts, 1)
	runs, streams := newStats(), newStats()
	deadline := time.Now().Add(opts.duration)
	started := time.Now()
	var group sync.WaitGroup
	for range opts.clients {
		group.Go(func() {
			c := c.alone()
			for time.Now().Before(deadline) {
				begin := time.Now()
				if _, kind := c.start(true, nil); kind != "" {
					runs.failure(kind, time.Since(begin))
				} else {
					runs.success(time.Since(begin))
				}
			}
		})
	}
	for range opts.sse {
		group.Go(func() {
			c := c.alone()
			for time.Now().Before(deadline) {
				begin := time.Now()
				runID, kind := c.start(false, nil)
				if kind == "" {
					kind = c.follow(runID)
				}
				if kind != "" {
					streams.failure(kind, time.Since(begin))
				} else {
					streams.success(time.Since(begin))
				}
			}
		})
	}
	group.Wait()
	elapsed := time.Since(started).Seconds()
	emit(map[string]any{
		"seconds": elapsed, "connections": c.opened.Load(), "runs": runs.summary(), "sse": streams.summary(),
	})
}

// burst: `count` runs with ?wait=false over `conns` connections, as fast as they are accepted.
func burst(opts options) {
	c := newClient(opts, opts.conns)
	submitted := newStats()
	ids := make([]string, opts.count)
	var next atomic.Int64
	started := time.Now()
	var group sync.WaitGroup
	for range opts.conns {
		group.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= opts.count {
					return
				}
				begin := time.Now()
				runID, kind := c.start(false, nil)
				if kind != "" {
					submitted.failure(kind, time.Since(begin))
					continue
				}
				ids[i] = runID
				submitted.success(time.Since(begin))
			}
		})
	}
	group.Wait()
	accepted := slices.DeleteFunc(ids, func(id string) bool { return id == "" })
	emit(map[string]any{
		"started": float64(started.UnixNano()) / 1e9, "submit_seconds": time.Since(started).Seconds(),
		"submit": submitted.summary(), "run_ids": accepted,
	})
}

// hold: `count` waited runs at once, each on its own connection; prints {"sent": count} as soon as every request
// is written, then the figures when every answer is in.
func hold(opts options) {
	c := newClient(opts, opts.count)
	runs := newStats()
	var sent atomic.Int64
	var once sync.Once
	var group sync.WaitGroup
	for range opts.count {
		group.Go(func() {
			begin := time.Now()
			wrote := func() {
				if int(sent.Add(1)) == opts.count {
					once.Do(func() { emit(map[string]any{"sent": opts.count}) })
				}
			}
			if _, kind := c.start(true, wrote); kind != "" {
				runs.failure(kind, time.Since(begin))
			} else {
				runs.success(time.Since(begin))
			}
		})
	}
	group.Wait()
	emit(map[string]any{"connections": c.opened.Load(), "runs": runs.summary()})
}

// idle: `count` keep-alive connections, each having answered one GET /api/health, left open and idle; prints
// {"sent": count} once they all are, then closes them when stdin ends. (The API closes idle connections after its
// keep-alive timeout, uvicorn's 5 s: measure sooner.)
func idle(opts options) {
	c := newClient(opts, opts.count)
	var arrived sync.WaitGroup
	arrived.Add(opts.count)
	everyone := make(chan struct{})
	var failed atomic.Int64
	var group sync.WaitGroup
	for range opts.count {
		group.Go(func() {
			request, err := http.NewRequestWithContext(c.trace(context.Background(), nil), http.MethodGet,
				c.opts.url+"/api/health", nil)
			var response *http.Response
			if err == nil {
				response, err = c.http.Do(request)
			}
			arrived.Done()
			if err != nil {
				failed.Add(1)
				return
			}
			<-everyone // the connection stays busy until every request has its own
			_, _ = io.Copy(io.Discard, response.Body)
			response.Body.Close()
		})
	}
	arrived.Wait()
	close(everyone)
	group.Wait()
	emit(map[string]any{"sent": opts.count, "connections": c.opened.Load(), "errors": failed.Load()})
	_, _ = io.Copy(io.Discard, os.Stdin)
	c.http.CloseIdleConnections()
}

// open: arrivals at a fixed `rate` for `duration`, each run started at its scheduled time whatever the answers so
// far (latency counts from the scheduled time, so a late start counts against the server, not hidden).
func open(opts options) {
	c := newClient(opts, 4096)
	runs := newStats()
	interval := time.Duration(float64(time.Second) / opts.rate)
	total := int(opts.rate * opts.duration.Seconds())
	started := time.Now()
	var group sync.WaitGroup
	for i := range total {
		scheduled := started.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(scheduled))
		group.Go(func() {
			if _, kind := c.start(true, nil); kind != "" {
				runs.failure(kind, time.Since(scheduled))
			} else {
				runs.success(time.Since(scheduled))
			}
		})
	}
	group.Wait()
	elapsed := time.Since(started).Seconds()
	summary := runs.summary()
	emit(map[string]any{
		"rate": opts.rate, "seconds": elapsed, "achieved": float64(summary["ok"].(int)) / elapsed,
		"connections": c.opened.Load(), "runs": summary,
	})
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen closed|burst|hold|idle|open [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	flags := flag.NewFlagSet(mode, flag.ExitOnError)
	var opts options
	var body string
	flags.StringVar(&opts.url, "url", "http://127.0.0.1:8000", "the API's base URL")
	flags.StringVar(&opts.path, "path", "/api/apps/lab/pages/main/runs", "where runs are started")
	flags.StringVar(&body, "body", defaultBody, "the run request")
	flags.IntVar(&opts.clients, "clients", 1000, "closed: concurrent clients (keep-alive connections)")
	flags.IntVar(&opts.sse, "sse", 100, "closed: clients that start runs with wait=false and follow their events")
	flags.IntVar(&opts.count, "count", 10000, "burst, hold: runs; idle: connections")
	flags.IntVar(&opts.conns, "conns", 64, "burst: connections")
	flags.Float64Var(&opts.rate, "rate", 100, "open: runs per second")
	flags.DurationVar(&opts.duration, "duration", 30*time.Second, "closed, open: how long")
	flags.DurationVar(&opts.timeout, "timeout", 90*time.Second, "per request, answer included")
	if err := flags.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	opts.body = []byte(body)
	switch mode {
	case "closed":
		closed(opts)
	case "burst":
		burst(opts)
	case "hold":
		hold(opts)
	case "idle":
		idle(opts)
	case "open":
		if opts.rate <= 0 {
			fmt.Fprintln(os.Stderr, "loadgen: -rate must be positive")
			os.Exit(2)
		}
		open(opts)
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown mode %q\n", mode)
		os.Exit(2)
	}
}

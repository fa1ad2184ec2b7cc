package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Emulator is the AWS emulator one System runs against: moto_server processes of the bench's own,
// started empty for that System and stopped after it, or the shared emulator at AWS_ENDPOINT_URL.
//
// A fresh emulator per heavy section matters: moto keeps every item it was ever given, and its
// TransactWriteItems deep-copies each table a transaction touches, once per item of the transaction
// (moto 5.2, moto/dynamodb/models/__init__.py:616-623), so every transaction gets slower as the
// tables grow. Real DynamoDB does not; a run late in a long bench would otherwise measure moto's
// table sizes, not runcmd.
//
// Our own emulator is two moto_server processes behind a small routing proxy (Endpoint): one for
// DynamoDB, one for everything else (SQS, SNS, S3, STS). moto runs in one Python process whose
// global interpreter lock lets it use one core; a fleet run keeps it busy all the time, so splitting
// the services lets it use two. runcmd uses no cross-service feature of moto (no SNS subscriptions).
type Emulator struct {
	Endpoint string
	Own      bool // started by the bench (and stopped by Stop)
	Patched  bool // moto run with motoPatch
	procs    []*motoProc
	proxy    *http.Server
	pid      int // the shared emulator's process, 0 when not found
	once     sync.Once
}

// motoProc is one moto_server process of ours.
type motoProc struct {
	endpoint string
	cmd      *exec.Cmd
	log      *os.File
	exited   chan struct{}
}

// emulatorServices routes each service to a process: DynamoDB to the first, the rest to the second.
var emulatorServices = map[string]int{"dynamodb": 0}

// motoPatch runs moto_server with two fixes. It changes nothing moto emulates except to make
// DynamoDB's writes behave as DynamoDB's do; a moto without these functions runs as it is.
//
//   - moto 5.2 finds the service of every request by listing its own package directory and stat-ing
//     each entry while it holds a global lock (moto/moto_server/werkzeug_app.py:224,
//     moto/backends.py:186). Under load, with a hundred agents' requests in flight, every stat
//     gives up Python's lock and waits to get it back, requests queue behind that lock and a
//     50-node fleet run takes minutes instead of seconds. The list never changes while moto runs,
//     so the patch computes it once.
//   - moto's TransactWriteItems copies the tables it touches before it starts and, when a condition
//     fails, puts the copies back (moto/dynamodb/models/__init__.py:616-623, 720-724), undoing
//     every write other requests made to those tables in the meantime. Our functions lose such
//     races all the time by design (optimistic writes, retried), so without the fix moto drops
//     other invocations' writes now and then: a node's reply then finds its invocation "never
//     sent" and is rejected, and the run waits for the invocation's timeout. The same unlocked
//     copy is what makes concurrent transactions fail with "dictionary changed size during
//     iteration". The patch runs DynamoDB's operations one at a time, as moto's one Python thread
//     at a time runs them anyway.
const motoPatch = `import sys
try:
    import moto.backends as b
    mods = tuple(b.list_of_moto_modules())
    b.list_of_moto_modules = lambda: mods
except Exception:
    pass
try:
    import functools, inspect, threading
    from moto.dynamodb.models import DynamoDBBackend
    lock = threading.RLock()
    def locked(f):
        @functools.wraps(f)
        def call(*args, **kwargs):
            with lock:
                return f(*args, **kwargs)
        return call
    for name, f in list(vars(DynamoDBBackend).items()):
        if not name.startswith("_") and inspect.isfunction(f):
            setattr(DynamoDBBackend, name, locked(f))
except Exception:
    pass
from moto.server import main
sys.argv = ["moto_server"] + sys.argv[1:]
main()
`

// motoCommand runs moto_server (bin) patched by motoPatch, with the interpreter named on its #! line
// or, for a launcher such as a pyenv shim, python3; nil when there is none.
func motoCommand(bin string) func(args ...string) *exec.Cmd {
	python := ""
	if b, err := os.ReadFile(bin); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		if f := strings.Fields(strings.TrimPrefix(line, "#!")); strings.HasPrefix(line, "#!") && len(f) == 1 && strings.Contains(filepath.Base(f[0]), "python") {
			python = f[0]
		}
	}
	if python == "" {
		p, err := exec.LookPath("python3")
		if err != nil {
			return nil
		}
		python = p
	}
	return func(args ...string) *exec.Cmd {
		return exec.Command(python, append([]string{"-c", motoPatch}, args...)...)
	}
}

// SharedEmulator is the emulator at endpoint (AWS_ENDPOINT_URL), whoever started it.
func SharedEmulator(endpoint string) *Emulator {
	return &Emulator{Endpoint: endpoint, pid: findEmulator(endpoint)}
}

// StartEmulator starts our emulator: two moto_server processes (patched by motoPatch when they can
// be, else as installed), logs in dir, and the routing proxy in front of them. The caller must Stop
// it.
func StartEmulator(ctx context.Context, dir string) (*Emulator, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("start a fresh emulator: %w", err)
	}
	e := &Emulator{Own: true, Patched: true}
	plain := func(args ...string) *exec.Cmd { return exec.Command(bin, args...) }
	for range 2 {
		var p *motoProc
		if patched := motoCommand(bin); patched != nil && e.Patched {
			p, err = startMoto(ctx, dir, patched)
		}
		if p == nil && ctx.Err() == nil {
			e.Patched = false
			p, err = startMoto(ctx, dir, plain)
		}
		if err != nil {
			e.Stop()
			return nil, err
		}
		e.procs = append(e.procs, p)
	}
	if err := e.serve(); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// serve starts the routing proxy.
func (e *Emulator) serve() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("emulator proxy: %w", err)
	}
	transport := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	var proxies []*httputil.ReverseProxy
	for _, p := range e.procs {
		u, err := url.Parse(p.endpoint)
		if err != nil {
			return err
		}
		rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host header: queue URLs name the proxy
		rp.Transport = transport
		rp.ErrorLog = log.New(io.Discard, "", 0) // a stopped agent's long poll cancels: not news
		rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
		proxies = append(proxies, rp)
	}
	e.Endpoint = "http://" + ln.Addr().String()
	e.proxy = &http.Server{ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i, ok := emulatorServices[signedService(r)]
			if !ok {
				i = len(proxies) - 1
			}
			proxies[min(i, len(proxies)-1)].ServeHTTP(w, r)
		})}
	go func() { _ = e.proxy.Serve(ln) }()
	return nil
}

// signedService is the service a request is signed for: the fourth part of its SigV4 credential
// scope (Credential=key/date/region/service/aws4_request), in the Authorization header or, for a
// presigned URL, the X-Amz-Credential parameter. "" when it is not signed.
func signedService(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, after, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return ""
		}
		cred, _, _ = strings.Cut(after, ",")
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// startMoto starts command(-H 127.0.0.1 -p <free port>) and waits until it answers.
func startMoto(ctx context.Context, dir string, command func(args ...string) *exec.Cmd) (*motoProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start a fresh emulator: free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logf, err := os.CreateTemp(dir, "moto-*.log")
	if err != nil {
		return nil, err
	}
	cmd := command("-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	p := &motoProc{endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, log: logf, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	// moto has no health endpoint; /moto-api/config is small (data.json dumps every backend).
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Get(p.endpoint + "/moto-api/config")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 { // moto answers 201
				return p, nil
			}
		}
		select {
		case <-p.exited:
			logf.Close()
			return nil, fmt.Errorf("moto_server on port %d exited at start (log %s)", port, logf.Name())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("moto_server on port %d not ready after 60 s (log %s)", port, logf.Name())
		}
	}
}

// stop ends the process: SIGTERM, SIGKILL after 5 s.
func (p *motoProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.log.Close()
}

// Stop stops our emulator (proxy and processes); a shared one is left alone.
func (e *Emulator) Stop() {
	if e == nil || !e.Own {
		return
	}
	e.once.Do(func() {
		if e.proxy != nil {
			_ = e.proxy.Close()
		}
		for _, p := range e.procs {
			p.stop()
		}
	})
}

// PIDs are the emulator's processes (none when the shared one was not found).
func (e *Emulator) PIDs() []int {
	if e == nil {
		return nil
	}
	if !e.Own {
		if e.pid == 0 {
			return nil
		}
		return []int{e.pid}
	}
	var out []int
	for _, p := range e.procs {
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}

// RSS is the emulator's resident memory, summed over its processes; 0 when unknown.
func (e *Emulator) RSS() int64 {
	var n int64
	for _, pid := range e.PIDs() {
		r, _ := procRSS(pid)
		n += r
	}
	return n
}

// CPU is the CPU time the emulator's processes have used.
func (e *Emulator) CPU() (time.Duration, error) {
	pids := e.PIDs()
	if len(pids) == 0 {
		return 0, errors.New("emulator process not found")
	}
	var d time.Duration
	for _, pid := range pids {
		c, err := procCPU(pid)
		if err != nil {
			return 0, err
		}
		d += c
	}
	return d, nil
}

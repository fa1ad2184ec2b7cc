package stack

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/runcmd/runcmd/internal/lambdafn"
	"github.com/runcmd/runcmd/internal/ssmapi"
)

// DevOptions tune the local host.
type DevOptions struct {
	Listener      net.Listener  // where the api serves plain HTTP
	SweepInterval time.Duration // how often sweep runs (EventBridge: every minute)
	Pollers       int           // pollers per queue, like Lambda's concurrent batches
}

// RunDev hosts all four functions in this process until ctx ends: the api as an HTTP server, SQS
// pollers standing in for the dispatch and ingest event source mappings, and a ticker for sweep.
func (s *Stack) RunDev(ctx context.Context, opt DevOptions, log *slog.Logger) error {
	srv := &http.Server{Handler: ssmapi.NewHandler(s.API, log), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	pollers := []*lambdafn.Poller{}
	for range max(opt.Pollers, 1) {
		pollers = append(pollers,
			&lambdafn.Poller{Queue: s.Dispatch, Handler: lambdafn.SQSHandler(lambdafn.Dispatch(s.Dispatcher), true, log), Batch: 10, Wait: 20 * time.Second, Log: log.With("function", "dispatch")},
			&lambdafn.Poller{Queue: s.Results, Handler: lambdafn.SQSHandler(lambdafn.Ingest(s.Ingester), false, log), Batch: 10, Wait: 20 * time.Second, Log: log.With("function", "ingest")},
		)
	}
	for _, p := range pollers {
		wg.Go(func() { p.Run(ctx) })
	}
	wg.Go(func() { s.sweepLoop(ctx, opt.SweepInterval, log) })

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(opt.Listener) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *Stack) sweepLoop(ctx context.Context, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Sweeper.Sweep(ctx); err != nil {
				log.Error("sweep_failed", "err", err)
			} else if n > 0 {
				log.Info("sweep", "timed_out", n)
			}
		}
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/provision"
	"github.com/runcmd/runcmd/internal/stack"
)

func provisionCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := stack.LoadAWS(ctx)
	if err != nil {
		return err
	}
	out, err := provision.Run(ctx, cfg, config.FromEnv(os.Getenv))
	if err != nil {
		return err
	}
	fmt.Printf("provisioned: %+v\n", out)
	return nil
}

// devFlags are shared by dev and demo.
type devFlags struct {
	addr      string
	sweep     time.Duration
	pollers   int
	provision bool
}

func (f *devFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address of the local api (SSM protocol)")
	fs.DurationVar(&f.sweep, "sweep-interval", 10*time.Second, "how often the sweep function runs")
	fs.IntVar(&f.pollers, "pollers", 2, "concurrent pollers per queue")
	fs.BoolVar(&f.provision, "provision", true, "provision resources first (idempotent)")
}

// startDev provisions (if asked), builds the stack and starts hosting it. It returns once the api
// listens; done is closed when the host has stopped.
func startDev(ctx context.Context, f devFlags, log *slog.Logger) (st *stack.Stack, addr string, done <-chan error, err error) {
	cfg, err := stack.LoadAWS(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	res := config.FromEnv(os.Getenv)
	if f.provision {
		if _, err := provision.Run(ctx, cfg, res); err != nil {
			return nil, "", nil, err
		}
	}
	st, err = stack.New(ctx, cfg, res, log)
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("listen %s: %w", f.addr, err)
	}
	ch := make(chan error, 1)
	go func() {
		ch <- st.RunDev(ctx, stack.DevOptions{Listener: ln, SweepInterval: f.sweep, Pollers: f.pollers}, log)
	}()
	return st, "http://" + ln.Addr().String(), ch, nil
}

func devCmd(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	var f devFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, addr, done, err := startDev(ctx, f, log)
	if err != nil {
		return err
	}
	log.Info("api listening", "endpoint", addr)
	return <-done
}

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/runcmd/runcmd/agent/node"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/stack"
)

// fleetCmd runs N real agents in this process, each with its own identity, queue and state directory,
// for demos and load tests.
func fleetCmd(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	count := fs.Int("count", 3, "number of agents")
	tags := fs.String("tags", "", "tags for every agent, K=V[,K2=V2]")
	root := fs.String("state-dir", "", "parent of the agents' state directories (default: a temporary directory)")
	endpoint := fs.String("endpoint", "http://127.0.0.1:8080", "the runcmd api the agents register with (runcmd dev's --addr)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tagMap, err := parseTags(*tags)
	if err != nil {
		return err
	}
	if *root == "" {
		if *root, err = os.MkdirTemp("", "runcmd-fleet-"); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		defer os.RemoveAll(*root)
	}
	cfg, err := stack.LoadAWS(ctx)
	if err != nil {
		return err
	}
	all := make([]map[string]string, *count)
	for i := range all {
		all[i] = tagMap
	}
	ids, done, err := startFleet(ctx, cfg, config.FromEnv(os.Getenv), *endpoint, *root, all, log)
	if err != nil {
		return err
	}
	log.Info("fleet running", "agents", len(ids))
	for _, id := range ids {
		fmt.Println(id)
	}
	<-done
	return nil
}

// startFleet registers and starts one agent per entry of tags, in state directories under root: agents
// with the same tags share one activation created through the api at endpoint (its tags become the
// nodes' tags), and each registers through the code path of `runcmd-agent register`. done is closed
// when every agent has stopped (after ctx ends and their grace period).
func startFleet(ctx context.Context, cfg aws.Config, res config.Resources, endpoint, root string, tags []map[string]string, log *slog.Logger) (ids []string, done <-chan struct{}, err error) {
	dirs := make([]string, len(tags))
	groups := map[string][]int{} // agents by tag set
	var order []string
	for i, t := range tags {
		dirs[i] = filepath.Join(root, fmt.Sprintf("agent-%03d", i))
		k := fmt.Sprint(t) // fmt prints maps sorted by key
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	ids = make([]string, len(tags))
	for _, k := range order {
		idx := groups[k]
		var ds []string
		for _, i := range idx {
			ds = append(ds, dirs[i])
		}
		got, err := stack.RegisterNodes(ctx, cfg, endpoint, tags[idx[0]], ds)
		if err != nil {
			return nil, nil, fmt.Errorf("register agents: %w", err)
		}
		for j, i := range idx {
			ids[i] = got[j]
		}
	}
	var wg sync.WaitGroup
	for i := range tags {
		a, err := node.NewAWS(ctx, cfg, node.Config{StateDir: dirs[i], Logger: log}, node.NamesFrom(res))
		if err != nil {
			return nil, nil, fmt.Errorf("start agent %d: %w", i, err)
		}
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				log.Error("agent stopped", "instance_id", a.InstanceID(), "err", err)
			}
		})
	}
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ids, ch, nil
}

// parseTags reads K=V[,K2=V2].
func parseTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	if s == "" {
		return tags, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("tag %q is not K=V", kv)
		}
		tags[k] = v
	}
	return tags, nil
}

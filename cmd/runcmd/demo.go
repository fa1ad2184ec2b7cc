package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/stack"
)

// demoCmd is `make run`: the local stack, a tagged fleet of three and a first command, then it keeps
// serving until Ctrl-C.
func demoCmd(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var f devFlags
	f.register(fs)
	stateRoot := fs.String("state-dir", "", "where the demo agents keep their state (default: a temporary directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, endpoint, done, err := startDev(ctx, f, quiet)
	if err != nil {
		return err
	}
	fmt.Printf("runcmd api (SSM protocol) listening on %s\n", endpoint)

	cfg, err := stack.LoadAWS(ctx)
	if err != nil {
		return err
	}
	root := *stateRoot
	if root == "" {
		if root, err = os.MkdirTemp("", "runcmd-demo-"); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		defer os.RemoveAll(root)
	}
	fleet := []map[string]string{{"Workload": "Prod", "Name": "prod-1", "PatchGroup": demoPatchGroup},
		{"Workload": "Prod", "Name": "prod-2", "PatchGroup": demoPatchGroup}, {"Workload": "Dev", "Name": "dev-1"}}
	patching := preparePatchDemo() // before the agents start: they pass their environment to steps
	agents, agentsDone, err := startFleet(ctx, cfg, config.FromEnv(os.Getenv), endpoint, root, fleet, quiet)
	if err != nil {
		return err
	}
	for i, a := range agents {
		fmt.Printf("agent %s started with tags %v\n", a, fleet[i])
	}

	client := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(endpoint) })
	if err := runDemo(ctx, client, agents); err != nil {
		return err
	}
	switch {
	case !patching:
		fmt.Println("\nskipping the patching demo: no runcmd-agent binary next to runcmd or on PATH (run `make`)")
	default:
		if err := writeInventories(root, len(fleet)); err != nil {
			return err
		}
		if err := runPatchDemo(ctx, client, agents[:2]); err != nil {
			return err
		}
	}
	fmt.Printf(`
Try it yourself (in another shell; test credentials are fine):

  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  aws ssm describe-instance-information --endpoint-url %[1]s
  aws ssm send-command --endpoint-url %[1]s --document-name AWS-RunShellScript \
      --instance-ids %[2]s --parameters commands='echo hi'
  aws ssm get-command-invocation --endpoint-url %[1]s --command-id <CommandId> --instance-id %[2]s
  aws ssm list-commands --endpoint-url %[1]s
  aws ssm send-command --endpoint-url %[1]s --document-name AWS-RunShellScript \
      --targets Key=tag:Workload,Values=Prod --parameters commands='uptime'

Serving until Ctrl-C.
`, endpoint, agents[0])
	<-ctx.Done()
	fmt.Println("\nstopping...")
	<-agentsDone
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// runDemo waits for the fleet to register, sends the first command to the Prod nodes and prints what
// each node reported.
func runDemo(ctx context.Context, client *ssm.Client, agents []string) error {
	if err := waitOnline(ctx, client, agents); err != nil {
		return err
	}
	fmt.Println("all agents Online; sending AWS-RunShellScript to tag:Workload=Prod")
	sent, err := client.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName: aws.String("AWS-RunShellScript"),
		Targets:      []types.Target{{Key: aws.String("tag:Workload"), Values: []string{"Prod"}}},
		Parameters:   map[string][]string{"commands": {"uname -a", "echo hello from $(hostname)"}},
		Comment:      aws.String("runcmd demo"),
	})
	if err != nil {
		return fmt.Errorf("send command: %w", err)
	}
	id := aws.ToString(sent.Command.CommandId)
	start := time.Now()
	cmd, err := waitCommand(ctx, client, id)
	if err != nil {
		return err
	}
	fmt.Printf("command %s: %s (%s) after %s\n", id, cmd.Status, aws.ToString(cmd.StatusDetails), time.Since(start).Round(time.Millisecond))
	out, err := client.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: aws.String(id), Details: true})
	if err != nil {
		return fmt.Errorf("list invocations: %w", err)
	}
	for _, inv := range out.CommandInvocations {
		fmt.Printf("\n== %s: %s\n", aws.ToString(inv.InstanceId), inv.Status)
		for _, p := range inv.CommandPlugins {
			fmt.Printf("   %s exit %d\n", aws.ToString(p.Name), p.ResponseCode)
			for _, line := range strings.Split(strings.TrimRight(aws.ToString(p.Output), "\n"), "\n") {
				fmt.Println("   | " + line)
			}
		}
	}
	return nil
}

func waitOnline(ctx context.Context, client *ssm.Client, ids []string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := client.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
			Filters: []types.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: ids}},
		})
		if err == nil && len(out.InstanceInformationList) == len(ids) &&
			!slices.ContainsFunc(out.InstanceInformationList, func(i types.InstanceInformation) bool { return i.PingStatus != types.PingStatusOnline }) {
			return nil // registered, and each has sent its first heartbeat
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agents did not register within 60s (last error: %v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitCommand polls ListCommands until the command has finished.
func waitCommand(ctx context.Context, client *ssm.Client, id string) (types.Command, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := client.ListCommands(ctx, &ssm.ListCommandsInput{CommandId: aws.String(id)})
		if err != nil {
			return types.Command{}, fmt.Errorf("list commands: %w", err)
		}
		if len(out.Commands) == 1 {
			switch c := out.Commands[0]; c.Status {
			case types.CommandStatusPending, types.CommandStatusInProgress, types.CommandStatusCancelling:
			default:
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			return types.Command{}, fmt.Errorf("command %s did not finish within 2 minutes", id)
		}
		select {
		case <-ctx.Done():
			return types.Command{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

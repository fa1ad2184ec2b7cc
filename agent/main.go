// Command runcmd-agent is the runcmd node agent: it long-polls the node's own SQS queue, runs command
// documents, and reports to the results queue. This file only reads flags and environment, builds AWS
// clients and handles signals; the agent itself is package agent/node.
//
//	runcmd-agent register --code CODE --id ID --region R [--endpoint URL] [--state-dir DIR]
//	                         exchange an activation for a managed-instance id (once per node)
//	runcmd-agent [flags]     run the registered agent until SIGTERM or SIGINT
//	runcmd-agent version     print the agent version
//	runcmd-agent patch --operation Scan|Install [...]
//	                         the PatchLinux step of AWS-RunPatchBaseline (agent/internal/patchrun)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/runcmd/runcmd/agent/node"
	"github.com/runcmd/runcmd/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// options are the agent's settings after flags and environment.
type options struct {
	endpoint, region, prefix, stateDir, instanceID string
	credentials                                    string // node.CredentialsAmbient or node.CredentialsAPI
	tags                                           map[string]string
	workers                                        int
	grace                                          time.Duration
	rebootCommand                                  []string
}

// parseOptions reads flags, falling back to environment variables for each one left unset.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("runcmd-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var o options
	var tags, workers, grace, reboot string
	fs.StringVar(&o.endpoint, "endpoint", env("AWS_ENDPOINT_URL", ""), "AWS endpoint URL, e.g. an emulator (env AWS_ENDPOINT_URL)")
	fs.StringVar(&o.region, "region", env("AWS_REGION", ""), "AWS region (env AWS_REGION)")
	fs.StringVar(&o.prefix, "prefix", env("RUNCMD_PREFIX", config.DefaultPrefix), "resource name prefix (env RUNCMD_PREFIX)")
	fs.StringVar(&o.stateDir, "state-dir", env("RUNCMD_STATE_DIR", node.DefaultStateDir), "state directory (env RUNCMD_STATE_DIR)")
	fs.StringVar(&o.credentials, "credentials", env("RUNCMD_CREDENTIALS", node.CredentialsAmbient),
		"where SQS and S3 credentials come from: ambient (the AWS SDK's default chain) or api (the node's own, from the runcmd api) (env RUNCMD_CREDENTIALS)")
	fs.StringVar(&o.instanceID, "instance-id", env("RUNCMD_INSTANCE_ID", ""), "use this instance id instead of the persisted one (env RUNCMD_INSTANCE_ID)")
	fs.StringVar(&tags, "tags", env("RUNCMD_TAGS", ""), "tags applied on registration, K=V,K2=V2 (env RUNCMD_TAGS)")
	fs.StringVar(&workers, "workers", env("RUNCMD_WORKERS", strconv.Itoa(node.DefaultWorkers)), "documents run at once (env RUNCMD_WORKERS)")
	fs.StringVar(&grace, "grace", env("RUNCMD_GRACE", node.DefaultGrace.String()), "how long running steps may finish after SIGTERM (env RUNCMD_GRACE)")
	fs.StringVar(&reboot, "reboot-command", env("RUNCMD_REBOOT_COMMAND", strings.Join(node.DefaultRebootCommand, " ")),
		"command run when a step exits 194 (3010 on Windows) to reboot the node; split on spaces (env RUNCMD_REBOOT_COMMAND)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	var err error
	if o.tags, err = parseTags(tags); err != nil {
		errs = append(errs, err)
	}
	if o.workers, err = strconv.Atoi(workers); err != nil || o.workers < 1 {
		errs = append(errs, fmt.Errorf("workers %q: want a whole number of at least 1", workers))
	}
	if o.grace, err = time.ParseDuration(grace); err != nil || o.grace <= 0 {
		errs = append(errs, fmt.Errorf("grace %q: want a positive duration such as 30s", grace))
	}
	if o.region == "" {
		errs = append(errs, errors.New("region: set --region or AWS_REGION"))
	}
	if o.credentials != node.CredentialsAmbient && o.credentials != node.CredentialsAPI {
		errs = append(errs, fmt.Errorf("credentials %q: want %s or %s", o.credentials, node.CredentialsAmbient, node.CredentialsAPI))
	}
	if o.rebootCommand = strings.Fields(reboot); len(o.rebootCommand) == 0 {
		errs = append(errs, errors.New("reboot-command: must not be empty"))
	}
	return o, errors.Join(errs...)
}

// registerOptions are the settings of `runcmd-agent register`.
type registerOptions struct {
	code, id, region, apiEndpoint, stateDir string
}

// parseRegister reads register's flags. --endpoint is the runcmd api's URL (RUNCMD_API_ENDPOINT), not
// the AWS endpoint the agent uses for SQS and S3.
func parseRegister(args []string, getenv func(string) string, stderr io.Writer) (registerOptions, error) {
	fs := flag.NewFlagSet("runcmd-agent register", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var o registerOptions
	fs.StringVar(&o.code, "code", "", "activation code (CreateActivation's ActivationCode)")
	fs.StringVar(&o.id, "id", "", "activation id (CreateActivation's ActivationId)")
	fs.StringVar(&o.region, "region", env("AWS_REGION", ""), "AWS region (env AWS_REGION)")
	fs.StringVar(&o.apiEndpoint, "endpoint", env("RUNCMD_API_ENDPOINT", ""), "the runcmd api's URL (env RUNCMD_API_ENDPOINT)")
	fs.StringVar(&o.stateDir, "state-dir", env("RUNCMD_STATE_DIR", node.DefaultStateDir), "state directory (env RUNCMD_STATE_DIR)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	for _, req := range []struct{ name, v string }{{"code", o.code}, {"id", o.id}, {"region", o.region}, {"endpoint", o.apiEndpoint}} {
		if req.v == "" {
			errs = append(errs, fmt.Errorf("%s: required", req.name))
		}
	}
	return o, errors.Join(errs...)
}

// register runs `runcmd-agent register`. It prints the instance id on success; the code is never
// printed or logged.
func register(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, log *slog.Logger, stderr io.Writer) int {
	o, err := parseRegister(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		log.Error("bad_configuration", "err", err)
		return 2
	}
	reg, err := node.Register(ctx, node.RegisterOptions{StateDir: o.stateDir, Endpoint: o.apiEndpoint, Region: o.region,
		ActivationCode: o.code, ActivationID: o.id})
	if err != nil {
		log.Error("registration_failed", "activation_id", o.id, "err", err)
		return 1
	}
	log.Info("registered", "instance_id", reg.InstanceID, "activation_id", o.id)
	fmt.Fprintln(stdout, reg.InstanceID)
	return 0
}

// parseTags reads "K=V,K2=V2".
func parseTags(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	tags := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("tags %q: want K=V pairs separated by commas", s)
		}
		tags[k] = strings.TrimSpace(v)
	}
	return tags, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintln(stdout, "runcmd-agent", node.Version)
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if len(args) > 0 && args[0] == "register" {
		return register(ctx, args[1:], getenv, stdout, log, stderr)
	}
	if len(args) > 0 && args[0] == "patch" {
		return patchCommand(ctx, args[1:], getenv, stdout, stderr)
	}
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		log.Error("bad_configuration", "err", err)
		return 2
	}
	loadOpts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(o.region),
		// Checksums only where S3 requires them: trailing checksums break on some S3-compatible stores.
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if o.endpoint != "" {
		loadOpts = append(loadOpts, awsconfig.WithBaseEndpoint(o.endpoint))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		log.Error("aws_config_failed", "err", err)
		return 1
	}
	// Resource names: RUNCMD_<NAME> variables override single names, --prefix the prefix.
	res := config.FromEnv(func(k string) string {
		if k == "RUNCMD_PREFIX" {
			return o.prefix
		}
		return getenv(k)
	})
	agent, err := node.NewAWS(ctx, awsCfg, node.Config{
		StateDir:      o.stateDir,
		InstanceID:    o.instanceID,
		Region:        o.region,
		Tags:          o.tags,
		Workers:       o.workers,
		Grace:         o.grace,
		Logger:        log,
		RebootCommand: o.rebootCommand,
	}, node.NamesFrom(res), node.WithCredentials(o.credentials))
	if err != nil {
		log.Error("agent_start_failed", "err", err)
		return 1
	}
	go trimLoop(ctx, log)
	if err := agent.Run(ctx); err != nil {
		log.Error("agent_failed", "instance_id", agent.InstanceID(), "err", err)
		return 1
	}
	return 0
}

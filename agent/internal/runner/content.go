package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/documents"
)

// Limits of the content plugins.
const (
	// maxDownloadBytes bounds one aws:downloadContent file, so a wrong URL cannot fill the disk.
	maxDownloadBytes = 1 << 30
	// maxDocumentBytes is SSM's document size limit (64 KB), with room for YAML.
	maxDocumentBytes = 1 << 20
	// maxRunDocumentDepth bounds aws:runDocument nesting (SSM allows a few levels).
	maxRunDocumentDepth = 3
)

// runDocument runs another document as one step (aws:runDocument): documentType SSMDocument fetches it
// from the api by name (documentPath, optionally name:version), LocalPath reads a file on the node.
// documentParameters are validated against the nested document as SendCommand would. Its steps run
// one after another in this step's time; they may not reboot. The step's output is theirs, one block
// per step, and its status and code are the nested document's.
func runDocument(ctx context.Context, r *Runner, job Job, step documents.RenderedStep, dir string) stepOutcome {
	if job.Depth >= maxRunDocumentDepth {
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: aws:runDocument is nested more than %d levels deep.", step.Name, maxRunDocumentDepth))
	}
	docType, _ := step.Inputs["documentType"].(string)
	docPath, _ := step.Inputs["documentPath"].(string)
	if docPath == "" {
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: aws:runDocument needs documentPath.", step.Name))
	}
	var content []byte
	switch docType {
	case "SSMDocument":
		if r.cfg.Documents == nil {
			return r.failBeforeStart(step, fmt.Sprintf("Step %s: this agent has no api endpoint to fetch document %s from (register the node again).", step.Name, docPath))
		}
		name, version, _ := strings.Cut(docPath, ":")
		c, err := r.cfg.Documents.GetDocument(ctx, name, version)
		if err != nil {
			return r.failBeforeStart(step, fmt.Sprintf("Step %s: could not get document %s: %v", step.Name, docPath, err))
		}
		content = []byte(c)
	case "LocalPath":
		b, err := readLimited(docPath, maxDocumentBytes)
		if err != nil {
			return r.failBeforeStart(step, fmt.Sprintf("Step %s: could not read document %s on the node: %v", step.Name, docPath, err))
		}
		content = b
	default:
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: documentType %q is not supported: use SSMDocument or LocalPath.", step.Name, docType))
	}
	params, err := documentParameters(step.Inputs)
	if err != nil {
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: documentParameters: %v", step.Name, err))
	}
	doc, err := documents.Parse(content, "")
	if err != nil {
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: document %s is not valid: %s", step.Name, docPath, runcmd.ErrorMessage(err)))
	}
	vals, err := doc.ResolveParameters(params)
	if err != nil {
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: parameters of %s: %s", step.Name, docPath, runcmd.ErrorMessage(err)))
	}
	steps, err := doc.Render(vals, documents.ParamStoreFunc(func(ref string) (string, error) {
		return "", fmt.Errorf("{{ssm:%s}} cannot be resolved on the node", ref)
	}))
	if err != nil {
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: rendering %s: %s", step.Name, docPath, runcmd.ErrorMessage(err)))
	}
	p := r.base(step)
	timeout := time.Duration(step.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = documents.DefaultTimeoutSeconds * time.Second
	}
	nctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := r.RunJob(nctx, Job{CommandID: job.CommandID, Steps: steps, NoReboot: true,
		Nest: job.Nest + step.Name + ".", Depth: job.Depth + 1})
	var stdout, stderr strings.Builder
	for _, np := range out.Result.Plugins {
		fmt.Fprintf(&stdout, "--- %s (%s): %s\n%s", np.Name, np.Action, np.Detail, np.Stdout)
		if np.Stderr != "" {
			fmt.Fprintf(&stderr, "--- %s:\n%s", np.Name, np.Stderr)
		}
	}
	p.EndedAt = r.cfg.Now()
	p.ResponseCode = out.Result.ResponseCode
	setDetail(&p, out.Detail)
	if errors.Is(nctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		setDetail(&p, runcmd.DetailExecutionTimedOut)
	}
	if p.Detail == runcmd.DetailFailed && p.ResponseCode == 0 {
		p.ResponseCode = 1 // a failed plugin never reports 0 (reference 10.4)
	}
	p.Stdout, p.Stderr = stdout.String(), stderr.String()
	res := stepOutcome{plugin: p}
	if out.Result.TraceOutput != "" {
		res.trace = append(res.trace, out.Result.TraceOutput)
	}
	return res
}

// documentParameters reads aws:runDocument's documentParameters (a map, or its JSON text) into the
// form SendCommand's Parameters take: every value a list of strings.
func documentParameters(inputs map[string]any) (map[string][]string, error) {
	m, err := documents.InputObject(inputs, "documentParameters")
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for k, v := range m {
		switch t := v.(type) {
		case []any:
			for _, e := range t {
				out[k] = append(out[k], fmt.Sprint(e))
			}
		case nil:
		default:
			out[k] = []string{fmt.Sprint(t)}
		}
	}
	return out, nil
}

// downloadContent implements aws:downloadContent for the source types that need no credentials the
// node lacks: HTTP (https, or http with allowInsecureDownload), S3 (with the node's own S3 client) and
// SSMDocument (from the api). GitHub and Git fail with a clear message. destinationPath defaults to
// the step's folder; a relative one is taken under it.
func downloadContent(ctx context.Context, r *Runner, job Job, step documents.RenderedStep, dir string) stepOutcome {
	srcType, _ := step.Inputs["sourceType"].(string)
	info, err := documents.InputObject(step.Inputs, "sourceInfo")
	if err != nil {
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: sourceInfo: %v", step.Name, err))
	}
	dest, _ := step.Inputs["destinationPath"].(string)
	switch {
	case dest == "":
		dest = dir
	case !filepath.IsAbs(dest):
		dest = filepath.Join(dir, dest)
	}
	p := r.base(step)
	timeout := time.Duration(step.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = documents.DefaultTimeoutSeconds * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var file string
	switch srcType {
	case "HTTP":
		file, err = r.downloadHTTP(dctx, info, dest)
	case "S3":
		file, err = r.downloadS3(dctx, info, dest)
	case "SSMDocument":
		file, err = r.downloadDocument(dctx, info, dest)
	case "GitHub", "Git":
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: sourceType %s is not supported by runcmd-agent: it needs repository credentials the node does not hold. Use HTTP, S3 or SSMDocument.", step.Name, srcType))
	default:
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: unknown sourceType %q.", step.Name, srcType))
	}
	p.EndedAt = r.cfg.Now()
	if err != nil {
		setDetail(&p, runcmd.DetailFailed)
		if errors.Is(dctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			setDetail(&p, runcmd.DetailExecutionTimedOut)
		}
		if errors.Is(context.Cause(ctx), ErrCancelled) {
			setDetail(&p, runcmd.DetailCancelled)
		}
		p.ResponseCode = 1
		p.Stderr = Truncate(fmt.Sprintf("Download failed: %v", err), runcmd.MaxStderr)
		return stepOutcome{plugin: p}
	}
	setDetail(&p, runcmd.DetailSuccess)
	p.Stdout = "Content downloaded to " + file + "\n"
	return stepOutcome{plugin: p}
}

func (r *Runner) downloadHTTP(ctx context.Context, info map[string]any, dest string) (string, error) {
	raw, _ := info["url"].(string)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("sourceInfo url %q is not an http(s) URL", raw)
	}
	if u.Scheme == "http" && !truthy(info["allowInsecureDownload"]) {
		return "", fmt.Errorf("sourceInfo url %s uses http; set allowInsecureDownload to true to allow it", u.Redacted())
	}
	client := r.cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get %s: HTTP %d", u.Redacted(), resp.StatusCode)
	}
	return writeDownload(dest, path.Base(u.Path), func(w io.Writer) error {
		n, err := io.Copy(w, io.LimitReader(resp.Body, maxDownloadBytes+1))
		if err == nil && n > maxDownloadBytes {
			err = fmt.Errorf("larger than %d bytes", maxDownloadBytes)
		}
		return err
	})
}

func (r *Runner) downloadS3(ctx context.Context, info map[string]any, dest string) (string, error) {
	if r.cfg.Downloader == nil {
		return "", errors.New("this agent has no S3 client")
	}
	raw, _ := info["path"].(string)
	bucket, key, err := parseS3Path(raw)
	if err != nil {
		return "", err
	}
	return writeDownload(dest, path.Base(key), func(w io.Writer) error {
		return r.cfg.Downloader.Download(ctx, bucket, key, w, maxDownloadBytes)
	})
}

func (r *Runner) downloadDocument(ctx context.Context, info map[string]any, dest string) (string, error) {
	if r.cfg.Documents == nil {
		return "", errors.New("this agent has no api endpoint to fetch documents from")
	}
	name, _ := info["name"].(string)
	version, _ := info["version"].(string)
	if name == "" {
		return "", errors.New("sourceInfo needs the document's name")
	}
	content, err := r.cfg.Documents.GetDocument(ctx, name, version)
	if err != nil {
		return "", err
	}
	return writeDownload(dest, path.Base(name)+".json", func(w io.Writer) error {
		_, err := io.WriteString(w, content)
		return err
	})
}

// parseS3Path accepts s3://bucket/key and the https URLs SSM documents use (path style
// https://s3[.region].amazonaws.com/bucket/key and virtual-hosted https://bucket.s3[.region].amazonaws.com/key).
func parseS3Path(raw string) (bucket, key string, err error) {
	u, perr := url.Parse(raw)
	bad := fmt.Errorf("sourceInfo path %q is not an S3 URL (s3://bucket/key or https://s3.amazonaws.com/bucket/key)", raw)
	if perr != nil {
		return "", "", bad
	}
	p := strings.TrimPrefix(u.Path, "/")
	switch {
	case u.Scheme == "s3":
		bucket, key = u.Host, p
	case u.Scheme == "https" && (strings.HasPrefix(u.Host, "s3.") || strings.HasPrefix(u.Host, "s3-")):
		bucket, key, _ = strings.Cut(p, "/")
	case u.Scheme == "https" && strings.Contains(u.Host, ".s3."):
		bucket, _, _ = strings.Cut(u.Host, ".s3.")
		key = p
	default:
		return "", "", bad
	}
	if bucket == "" || key == "" {
		return "", "", bad
	}
	return bucket, key, nil
}

// writeDownload writes a download to dest (a folder, created 0700 if missing, or a file path whose
// folder exists) through a temporary file, so a failed download leaves nothing half-written.
func writeDownload(dest, name string, fill func(io.Writer) error) (string, error) {
	target := dest
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() || strings.HasSuffix(dest, string(os.PathSeparator)) {
		if err := os.MkdirAll(dest, 0o700); err != nil {
			return "", err
		}
		if name == "" || name == "." || name == "/" {
			name = "download"
		}
		target = filepath.Join(dest, filepath.Base(name))
	}
	f, err := os.CreateTemp(filepath.Dir(target), ".download-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if err := fill(f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), target); err != nil {
		return "", err
	}
	return target, nil
}

func readLimited(p string, max int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}

func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true")
	}
	return false
}

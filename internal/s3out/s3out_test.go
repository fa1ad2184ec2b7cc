package s3out_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/s3out"
)

func newClient(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = o.BaseEndpoint != nil })
}

// newBucket creates a unique bucket and empties and deletes it when the test ends.
func newBucket(t *testing.T, client *s3.Client) string {
	t.Helper()
	bucket := awstest.Name("rc-out")
	if err := s3out.EnsureBucket(t.Context(), client, bucket); err != nil {
		t.Fatalf("EnsureBucket: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
		if err == nil {
			for _, o := range out.Contents {
				_, _ = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: o.Key})
			}
		}
		if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
			t.Logf("delete bucket %s: %v", bucket, err)
		}
	})
	return bucket
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	client := newClient(awstest.Config(t))
	ctx := t.Context()
	bucket := newBucket(t, client)
	if err := s3out.EnsureBucket(ctx, client, bucket); err != nil {
		t.Errorf("EnsureBucket on an existing bucket: %v", err)
	}
	st := s3out.New(client)
	for name, want := range map[string]bool{bucket: true, awstest.Name("rc-missing"): false} {
		got, err := st.BucketExists(ctx, name)
		if err != nil || got != want {
			t.Errorf("BucketExists(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
}

func TestPutGet(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t)
	ctx := t.Context()
	bucket := newBucket(t, newClient(cfg))

	big := make([]byte, 10<<20)
	_, _ = rand.Read(big)
	file := filepath.Join(t.TempDir(), "stdout")
	if err := os.WriteFile(file, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The SDK's default checksum setting and the emulator profile's when_required both work.
	defaults := cfg.Copy()
	defaults.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
	defaults.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
	for name, cfg := range map[string]aws.Config{"when_required": cfg, "when_supported": defaults} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := s3out.New(newClient(cfg))
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			puts := []struct {
				key  string
				put  func(key string) error
				want []byte
			}{
				{"small", func(k string) error { return st.PutBytes(ctx, bucket, k, []byte("hello")) }, []byte("hello")},
				{"empty", func(k string) error { return st.PutBytes(ctx, bucket, k, nil) }, []byte{}},
				{"10MB", func(k string) error { return st.PutBytes(ctx, bucket, k, big) }, big},
				{"file", func(k string) error { return st.Put(ctx, bucket, k, f) }, []byte("from a file\n")},
				{"reader", func(k string) error { return st.Put(ctx, bucket, k, strings.NewReader("text")) }, []byte("text")},
			}
			for _, p := range puts {
				key := name + "/cmd-1/mi-1/awsrunShellScript/" + p.key + "/stdout"
				if err := p.put(key); err != nil {
					t.Errorf("Put %s: %v", p.key, err)
					continue
				}
				got, err := st.Get(ctx, bucket, key)
				if err != nil {
					t.Errorf("Get %s: %v", p.key, err)
					continue
				}
				if !bytes.Equal(got, p.want) {
					t.Errorf("Get %s: %d bytes differ from the %d put", p.key, len(got), len(p.want))
				}
			}
		})
	}
}

func TestGetMissing(t *testing.T) {
	t.Parallel()
	client := newClient(awstest.Config(t))
	bucket := newBucket(t, client)
	st := s3out.New(client)
	for _, b := range []string{bucket, awstest.Name("rc-missing")} {
		_, err := st.Get(t.Context(), b, "no/such/key")
		if got := runcmd.ErrorCode(err); got != runcmd.ENOTFOUND {
			t.Errorf("Get from %s: code %q (%v), want %q", b, got, err, runcmd.ENOTFOUND)
		}
	}
}

// Package s3out is runcmd's adapter for Amazon S3, where command output lives: Put, Get and
// BucketExists over a ready *s3.Client, and EnsureBucket for provisioning.
//
// Against an emulator the client must use path-style addressing (bucket in the path, not the host
// name: Go cannot resolve "bucket.localhost"). That is the caller's client option, set whenever an
// endpoint is configured, so production code has no emulator branch:
//
//	s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = o.BaseEndpoint != nil })
package s3out

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/runcmd/runcmd"
)

// Store reads and writes objects. It is safe for concurrent use.
type Store struct {
	client *s3.Client
}

// New returns a Store over client (see the package doc for the client's options).
func New(client *s3.Client) *Store {
	return &Store{client: client}
}

// Put writes body to bucket/key with a single PutObject (up to 5 GiB; command output is far
// smaller). body must be seekable: over plain http (every local emulator) the SDK reads it once to
// sign or checksum it and again to send it, and fails before sending an unseekable stream. An
// *os.File, bytes.Reader or strings.Reader will do; it is read from its current offset.
func (s *Store) Put(ctx context.Context, bucket, key string, body io.ReadSeeker) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: body})
	if err != nil {
		return fmt.Errorf("put object s3://%s/%s: %w", bucket, key, classify(err))
	}
	return nil
}

// PutBytes writes b to bucket/key.
func (s *Store) PutBytes(ctx context.Context, bucket, key string, b []byte) error {
	return s.Put(ctx, bucket, key, bytes.NewReader(b))
}

// Get returns the whole object bucket/key; a missing object or bucket is ENOTFOUND.
func (s *Store) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, fmt.Errorf("get object s3://%s/%s: %w", bucket, key, classify(err))
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read object s3://%s/%s: %w", bucket, key, err)
	}
	return b, nil
}

// BucketExists reports whether bucket exists and is ours to use. A bucket that exists but denies us
// (someone else's name) is an error, not false.
func (s *Store) BucketExists(ctx context.Context, bucket string) (bool, error) {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
	if err == nil {
		return true, nil
	}
	if runcmd.ErrorCode(classify(err)) == runcmd.ENOTFOUND {
		return false, nil
	}
	return false, fmt.Errorf("head bucket %s: %w", bucket, err)
}

// EnsureBucket creates bucket in the client's region unless it already exists and is ours, so
// provisioning can run again. A name taken by another account fails.
func EnsureBucket(ctx context.Context, client *s3.Client, bucket string) error {
	in := &s3.CreateBucketInput{Bucket: &bucket}
	// us-east-1 is the one region that must not be named as a location constraint.
	if r := client.Options().Region; r != "" && r != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	_, err := client.CreateBucket(ctx, in)
	if err == nil {
		return nil
	}
	var owned *types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) {
		return nil
	}
	var exists *types.BucketAlreadyExists
	if errors.As(err, &exists) {
		// Some S3 implementations say this for our own bucket too; HeadBucket tells them apart.
		if _, herr := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); herr == nil {
			return nil
		}
	}
	return fmt.Errorf("create bucket %s: %w", bucket, err)
}

// classify marks missing objects and buckets ENOTFOUND, keeping the SDK error in the chain. HeadBucket
// and HeadObject answer 404 with no error code, hence the status check.
func classify(err error) error {
	notFound := false
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			notFound = true
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 {
		notFound = true
	}
	if notFound {
		return fmt.Errorf("%w: %w", runcmd.Errorf(runcmd.ENOTFOUND, "", "no such object or bucket"), err)
	}
	return err
}

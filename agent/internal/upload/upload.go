// Package upload is the agent's S3 adapter: it stores a step's full stdout or stderr as one object, the
// way the SSM agent does (after the step ends, not streamed, with the bucket-owner-full-control ACL so a
// bucket in another account stays readable by its owner).
package upload

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 uploads output files with a ready S3 client (path-style addressing is the caller's choice: on when
// an endpoint is set).
type S3 struct {
	client *s3.Client
}

// New returns an uploader over client.
func New(client *s3.Client) *S3 { return &S3{client: client} }

// Upload puts body (size bytes) at bucket/key. The body is seekable so the SDK can retry and checksum.
func (u *S3) Upload(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64) error {
	_, err := u.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String("text/plain; charset=utf-8"),
		ACL:           types.ObjectCannedACLBucketOwnerFullControl,
	})
	if err != nil {
		return fmt.Errorf("put object s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// Download copies the object bucket/key to w, failing if it is larger than maxBytes (aws:downloadContent
// must not fill the node's disk).
func (u *S3) Download(ctx context.Context, bucket, key string, w io.Writer, maxBytes int64) error {
	out, err := u.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get object s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	n, err := io.Copy(w, io.LimitReader(out.Body, maxBytes+1))
	if err != nil {
		return fmt.Errorf("get object s3://%s/%s: %w", bucket, key, err)
	}
	if n > maxBytes {
		return fmt.Errorf("get object s3://%s/%s: larger than %d bytes", bucket, key, maxBytes)
	}
	return nil
}

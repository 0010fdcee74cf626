package kmstest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudchain/cloudchain/internal/kmstest"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func setup(t *testing.T) (*kmstest.Server, *kms.Client) {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/nonexistent-config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/nonexistent-credentials")
	srv := kmstest.NewServer(t)
	srv.RequireSignature(kmstest.AccessKeyID, kmstest.SecretAccessKey)
	return srv, srv.NewClient()
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func TestRoundTripAndAddressing(t *testing.T) {
	srv, c := setup(t)
	ctx := testCtx(t)
	arn := srv.CreateKey("alias/app")
	id := arn[strings.LastIndex(arn, "/")+1:]
	if want := "arn:aws:kms:us-east-1:111122223333:key/"; !strings.HasPrefix(arn, want) {
		t.Fatalf("CreateKey = %q, want prefix %q", arn, want)
	}
	encCtx := map[string]string{"service": "db", "a": "b"}
	for _, keyID := range []string{id, arn, "alias/app", "arn:aws:kms:us-east-1:111122223333:alias/app"} {
		t.Run(keyID, func(t *testing.T) {
			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("hunter2"), EncryptionContext: encCtx})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(enc.KeyId) != arn {
				t.Errorf("Encrypt KeyId = %q, want %q", aws.ToString(enc.KeyId), arn)
			}
			for _, decKey := range []*string{nil, aws.String(keyID)} {
				dec, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: decKey, CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "b", "service": "db"}})
				if err != nil {
					t.Fatalf("Decrypt(KeyId %v): %v", aws.ToString(decKey), err)
				}
				if string(dec.Plaintext) != "hunter2" || aws.ToString(dec.KeyId) != arn {
					t.Errorf("Decrypt = %q, %q", dec.Plaintext, aws.ToString(dec.KeyId))
				}
			}
			d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
			if err != nil {
				t.Fatal(err)
			}
			md := d.KeyMetadata
			if aws.ToString(md.Arn) != arn || aws.ToString(md.KeyId) != id || !md.Enabled || md.KeyState != types.KeyStateEnabled || md.KeySpec != types.KeySpecSymmetricDefault || md.CreationDate == nil {
				t.Errorf("DescribeKey = %+v", md)
			}
		})
	}
}

func TestGenerateDataKey(t *testing.T) {
	srv, c := setup(t)
	ctx := testCtx(t)
	arn := srv.CreateKey("k")
	for _, tc := range []struct {
		name string
		in   kms.GenerateDataKeyInput
		n    int
		code string
	}{
		{"AES_256", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256}, 32, ""},
		{"AES_128", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes128}, 16, ""},
		{"NumberOfBytes", kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(64)}, 64, ""},
		{"neither", kms.GenerateDataKeyInput{}, 0, "ValidationException"},
		{"both", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)}, 0, "ValidationException"},
		{"too many bytes", kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1025)}, 0, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.KeyId = aws.String("alias/k")
			in.EncryptionContext = map[string]string{"service": "x"}
			out, err := c.GenerateDataKey(ctx, &in)
			if tc.code != "" {
				if code(err) != tc.code {
					t.Fatalf("err = %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Plaintext) != tc.n || aws.ToString(out.KeyId) != arn {
				t.Fatalf("got %d bytes under %q", len(out.Plaintext), aws.ToString(out.KeyId))
			}
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: map[string]string{"service": "x"}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec.Plaintext, out.Plaintext) {
				t.Fatal("unwrapped data key differs")
			}
		})
	}
}

func TestDecryptErrors(t *testing.T) {
	srv, c := setup(t)
	ctx := testCtx(t)
	a := srv.CreateKey("alias/a")
	b := srv.CreateKey("alias/b")
	encCtx := map[string]string{"service": "s"}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(a), Plaintext: []byte("x"), EncryptionContext: encCtx})
	if err != nil {
		t.Fatal(err)
	}
	blob := enc.CiphertextBlob
	flip := func(i int) []byte {
		t := bytes.Clone(blob)
		t[i] ^= 1
		return t
	}
	for _, tc := range []struct {
		name   string
		keyID  string
		blob   []byte
		encCtx map[string]string
		target any
	}{
		{"other context", "", blob, map[string]string{"service": "t"}, new(*types.InvalidCiphertextException)},
		{"extra context", "", blob, map[string]string{"service": "s", "x": "y"}, new(*types.InvalidCiphertextException)},
		{"missing context", "", blob, nil, new(*types.InvalidCiphertextException)},
		{"other key", b, blob, encCtx, new(*types.IncorrectKeyException)},
		{"other key by alias", "alias/b", blob, encCtx, new(*types.IncorrectKeyException)},
		{"tampered tag", "", flip(len(blob) - 1), encCtx, new(*types.InvalidCiphertextException)},
		{"tampered nonce", "", flip(45), encCtx, new(*types.InvalidCiphertextException)},
		{"tampered key id", "", flip(10), encCtx, new(*types.InvalidCiphertextException)},
		{"truncated", "", blob[:20], encCtx, new(*types.InvalidCiphertextException)},
		{"garbage", "", []byte("not a ciphertext blob at all, really not"), encCtx, new(*types.InvalidCiphertextException)},
		{"unknown key", "alias/nope", blob, encCtx, new(*types.NotFoundException)},
		{"unknown key id", "11111111-2222-3333-4444-555555555555", blob, encCtx, new(*types.NotFoundException)},
		{"other account ARN", "arn:aws:kms:us-east-1:999999999999:key/11111111-2222-3333-4444-555555555555", blob, encCtx, new(*types.NotFoundException)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &kms.DecryptInput{CiphertextBlob: tc.blob, EncryptionContext: tc.encCtx}
			if tc.keyID != "" {
				in.KeyId = aws.String(tc.keyID)
			}
			_, err := c.Decrypt(ctx, in)
			if !errors.As(err, tc.target) {
				t.Fatalf("err = %v, want %T", err, tc.target)
			}
		})
	}

	t.Run("disabled", func(t *testing.T) {
		srv.DisableKey("alias/a")
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: encCtx})
		var de *types.DisabledException
		if !errors.As(err, &de) {
			t.Fatalf("err = %v, want DisabledException", err)
		}
		_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(a), KeySpec: types.DataKeySpecAes256})
		if !errors.As(err, &de) {
			t.Fatalf("GenerateDataKey err = %v, want DisabledException", err)
		}
		if _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(a)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: encCtx}); err != nil {
			t.Fatalf("after EnableKey: %v", err)
		}
		if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(a)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: encCtx}); !errors.As(err, &de) {
			t.Fatalf("after DisableKey op: err = %v", err)
		}
		srv.EnableKey(a)
	})

	t.Run("pending deletion", func(t *testing.T) {
		arn := srv.CreateKey("")
		if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("x")})
		var ise *types.KMSInvalidStateException
		if !errors.As(err, &ise) {
			t.Fatalf("err = %v, want KMSInvalidStateException", err)
		}
	})
}

func TestAliases(t *testing.T) {
	srv, c := setup(t)
	ctx := testCtx(t)
	ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("test key")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(ck.KeyMetadata.Arn)
	if aws.ToString(ck.KeyMetadata.Description) != "test key" {
		t.Errorf("Description = %q", aws.ToString(ck.KeyMetadata.Description))
	}
	for _, name := range []string{"alias/c", "alias/a", "alias/b"} {
		if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: ck.KeyMetadata.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	other := srv.CreateKey("alias/other")

	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/a"), TargetKeyId: aws.String(arn)})
	var ae *types.AlreadyExistsException
	if !errors.As(err, &ae) {
		t.Errorf("duplicate alias: err = %v, want AlreadyExistsException", err)
	}
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/z"), TargetKeyId: aws.String("alias/a")})
	if code(err) != "ValidationException" {
		t.Errorf("alias to alias: err = %v", err)
	}
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("nope"), TargetKeyId: aws.String(arn)})
	if code(err) != "ValidationException" {
		t.Errorf("alias without prefix: err = %v", err)
	}

	var names []string
	p := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Aliases {
			names = append(names, aws.ToString(a.AliasName))
			if want := "arn:aws:kms:us-east-1:111122223333:" + aws.ToString(a.AliasName); aws.ToString(a.AliasArn) != want {
				t.Errorf("AliasArn = %q, want %q", aws.ToString(a.AliasArn), want)
			}
		}
	}
	if got, want := strings.Join(names, ","), "alias/a,alias/b,alias/c,alias/other"; got != want {
		t.Errorf("ListAliases = %s, want %s", got, want)
	}
	la, err := c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: aws.String(other)})
	if err != nil {
		t.Fatal(err)
	}
	if len(la.Aliases) != 1 || aws.ToString(la.Aliases[0].AliasName) != "alias/other" || la.Truncated {
		t.Errorf("ListAliases(KeyId) = %+v", la.Aliases)
	}
}

func TestFaults(t *testing.T) {
	srv, c := setup(t)
	ctx := testCtx(t)
	arn := srv.CreateKey("alias/k")
	gdk := func() error {
		_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/k"), KeySpec: types.DataKeySpecAes256})
		return err
	}

	t.Run("throttle retried", func(t *testing.T) {
		srv.ResetCounts()
		srv.Throttle("GenerateDataKey", 2)
		if err := gdk(); err != nil {
			t.Fatal(err)
		}
		if n := srv.Count("GenerateDataKey"); n != 3 {
			t.Errorf("GenerateDataKey count = %d, want 3", n)
		}
	})
	t.Run("throttle exhausts retries", func(t *testing.T) {
		srv.ResetCounts()
		srv.Throttle("GenerateDataKey", 3)
		if err := gdk(); code(err) != "ThrottlingException" {
			t.Fatalf("err = %v, want ThrottlingException", err)
		}
		if n := srv.Count("GenerateDataKey"); n != 3 {
			t.Errorf("GenerateDataKey count = %d, want 3", n)
		}
		if err := gdk(); err != nil {
			t.Fatalf("after the faults: %v", err)
		}
	})
	t.Run("fail", func(t *testing.T) {
		srv.ResetCounts()
		srv.Fail("*", 1, "KMSInternalException", 500)
		srv.Fail("GenerateDataKey", 1, "DependencyTimeoutException", 503)
		if err := gdk(); err != nil { // both are retried
			t.Fatal(err)
		}
		if n := srv.Count("GenerateDataKey"); n != 3 {
			t.Errorf("GenerateDataKey count = %d, want 3", n)
		}
		srv.Fail("Decrypt", 1, "KeyUnavailableException", 500)
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("x")}, func(o *kms.Options) { o.RetryMaxAttempts = 1 })
		var ku *types.KeyUnavailableException
		if !errors.As(err, &ku) {
			t.Errorf("err = %v, want KeyUnavailableException", err)
		}
	})
	t.Run("deny", func(t *testing.T) {
		srv.DenyAccess("GenerateDataKey")
		err := gdk()
		if code(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "kms:GenerateDataKey") {
			t.Fatalf("err = %v, want AccessDeniedException naming kms:GenerateDataKey", err)
		}
		if _, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)}); err != nil {
			t.Fatalf("other operations are allowed: %v", err)
		}
		srv.AllowAccess("GenerateDataKey")
		if err := gdk(); err != nil {
			t.Fatal(err)
		}
		srv.DenyAccess("*")
		if _, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)}); code(err) != "AccessDeniedException" {
			t.Fatalf("err = %v", err)
		}
		srv.ClearFaults()
		if err := gdk(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSignature(t *testing.T) {
	srv, c := setup(t)
	ctx := testCtx(t)
	srv.CreateKey("alias/k")
	in := &kms.DescribeKeyInput{KeyId: aws.String("alias/k")}
	if _, err := c.DescribeKey(ctx, in); err != nil {
		t.Fatalf("signed request: %v", err)
	}
	wrongSecret := srv.NewClient(func(o *kms.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(kmstest.AccessKeyID, "wrong", "")
	})
	if _, err := wrongSecret.DescribeKey(ctx, in); code(err) != "InvalidSignatureException" {
		t.Errorf("wrong secret: err = %v", err)
	}
	wrongKey := srv.NewClient(func(o *kms.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider("AKIDOTHER", kmstest.SecretAccessKey, "")
	})
	if _, err := wrongKey.DescribeKey(ctx, in); code(err) != "UnrecognizedClientException" {
		t.Errorf("unknown access key: err = %v", err)
	}
	wrongRegion := srv.NewClient(func(o *kms.Options) { o.Region = "eu-west-1" })
	if _, err := wrongRegion.DescribeKey(ctx, in); code(err) != "InvalidSignatureException" {
		t.Errorf("wrong region: err = %v", err)
	}
	anonymous := srv.NewClient(func(o *kms.Options) { o.Credentials = aws.AnonymousCredentials{} })
	if _, err := anonymous.DescribeKey(ctx, in); code(err) != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned: err = %v", err)
	}

	srv.RequireSignature("", "") // format only
	if _, err := wrongSecret.DescribeKey(ctx, in); err != nil {
		t.Errorf("format-only check, wrong secret: %v", err)
	}
	if _, err := anonymous.DescribeKey(ctx, in); code(err) != "MissingAuthenticationTokenException" {
		t.Errorf("format-only check, unsigned: err = %v", err)
	}
}

// TestWire checks the raw protocol: what the server sends, independently of
// how the SDK reads it.
func TestWire(t *testing.T) {
	srv := kmstest.NewServer(t)
	srv.RequireSignature("", "")
	post := func(target, contentType, auth, body string) (*http.Response, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL()+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", contentType)
		if auth != "" {
			req.Header.Set("Authorization", auth)
			req.Header.Set("X-Amz-Date", "20260101T000000Z")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		return resp, m
	}
	const ct = "application/x-amz-json-1.1"
	const auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00"

	for _, tc := range []struct {
		name, target, ct, auth, body string
		status                       int
		errType                      string
	}{
		{"unsigned", "TrentService.DescribeKey", ct, "", `{"KeyId":"alias/x"}`, 400, "MissingAuthenticationTokenException"},
		{"not sigv4", "TrentService.DescribeKey", ct, "Basic Zm9vOmJhcg==", `{"KeyId":"alias/x"}`, 400, "IncompleteSignatureException"},
		{"not found", "TrentService.DescribeKey", ct, auth, `{"KeyId":"alias/x"}`, 400, "NotFoundException"},
		{"unknown op", "TrentService.Sign", ct, auth, `{}`, 400, "UnknownOperationException"},
		{"bad json", "TrentService.DescribeKey", ct, auth, `{`, 400, "SerializationException"},
		{"bad content type", "TrentService.DescribeKey", "application/json", auth, `{}`, 400, "SerializationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, m := post(tc.target, tc.ct, tc.auth, tc.body)
			if resp.StatusCode != tc.status || m["__type"] != tc.errType || resp.Header.Get("X-Amzn-Errortype") != tc.errType+":" {
				t.Errorf("got %d %v (header %q), want %d %s", resp.StatusCode, m, resp.Header.Get("x-amzn-ErrorType"), tc.status, tc.errType)
			}
			if _, ok := m["message"].(string); !ok {
				t.Errorf("no message in %v", m)
			}
			if resp.Header.Get("Content-Type") != ct || resp.Header.Get("x-amzn-RequestId") == "" {
				t.Errorf("headers %v", resp.Header)
			}
		})
	}

	srv.CreateKey("alias/x")
	resp, m := post("TrentService.Encrypt", ct, auth, `{"KeyId":"alias/x","Plaintext":"aGVsbG8=","EncryptionContext":{"k":"v"}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("Encrypt: %d %v", resp.StatusCode, m)
	}
	blob, _ := m["CiphertextBlob"].(string)
	resp, m = post("TrentService.Decrypt", ct, auth, `{"CiphertextBlob":"`+blob+`","EncryptionContext":{"k":"v"}}`)
	if resp.StatusCode != 200 || m["Plaintext"] != "aGVsbG8=" || m["EncryptionAlgorithm"] != "SYMMETRIC_DEFAULT" {
		t.Fatalf("Decrypt: %d %v", resp.StatusCode, m)
	}
	if got := srv.Counts(); got["Encrypt"] != 1 || got["Decrypt"] != 1 || got["DescribeKey"] != 5 || got["Sign"] != 1 {
		t.Errorf("Counts = %v", got)
	}
}

func TestConcurrent(t *testing.T) {
	srv, c := setup(t)
	ctx := testCtx(t)
	srv.CreateKey("alias/k")
	const n = 16
	errs := make(chan error, n)
	for i := range n {
		go func() {
			encCtx := map[string]string{"i": strings.Repeat("x", i)}
			out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/k"), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx})
			if err == nil {
				var dec *kms.DecryptOutput
				dec, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: encCtx})
				if err == nil && !bytes.Equal(dec.Plaintext, out.Plaintext) {
					err = errors.New("data key differs")
				}
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if srv.Count("GenerateDataKey") != n || srv.Count("Decrypt") != n {
		t.Errorf("Counts = %v", srv.Counts())
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:0"} {
		if s, err := kmstest.Listen(addr); err == nil {
			s.Close()
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
	s, err := kmstest.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL = %q", s.URL())
	}
}

// TestSignatureCoversBodyAndHeaders sends hand-signed requests whose body
// or a signed header changed after signing.
func TestSignatureCoversBodyAndHeaders(t *testing.T) {
	srv := kmstest.NewServer(t)
	srv.RequireSignature(kmstest.AccessKeyID, kmstest.SecretAccessKey)
	srv.CreateKey("alias/x")
	send := func(signedBody, sentBody, target string) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL()+"/", strings.NewReader(sentBody))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(signedBody))
		req.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		hash := sha256.Sum256([]byte(signedBody))
		creds := aws.Credentials{AccessKeyID: kmstest.AccessKeyID, SecretAccessKey: kmstest.SecretAccessKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(hash[:]), "kms", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", target)
		req.ContentLength = int64(len(sentBody))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		s, _ := m["__type"].(string)
		return s
	}
	const body = `{"KeyId":"alias/x"}`
	for _, tc := range []struct {
		name, signed, sent, target, want string
	}{
		{"as signed", body, body, "TrentService.DescribeKey", ""},
		{"body changed", body, `{"KeyId":"alias/y"}`, "TrentService.DescribeKey", "InvalidSignatureException"},
		{"signed header changed", body, body, "TrentService.ListAliases", "InvalidSignatureException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := send(tc.signed, tc.sent, tc.target); got != tc.want {
				t.Fatalf("error type %q, want %q", got, tc.want)
			}
		})
	}
}

